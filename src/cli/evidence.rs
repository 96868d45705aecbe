//! `import` and `check`: the user's `az … -o json` files as a scenario, or checked as they are.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use super::Format;
use crate::diagnosis::check::check_for;
use crate::evidence::{AzFiles, import};
use crate::scenario::Scenario;
use crate::scenario::write::{Images, scenario_text};

/// The three files that describe the user's world.
#[derive(Debug, Args)]
pub struct AzArgs {
    /// `az containerapp show --name <app> --resource-group <rg> -o json`
    #[arg(long, value_name = "FILE")]
    pub app: PathBuf,
    /// `az containerapp sessionpool show --name <pool> --resource-group <rg> -o json`
    #[arg(long, value_name = "FILE")]
    pub pool: PathBuf,
    /// `az role assignment list --all -o json` (or the ARM REST form `{"value":[…]}`)
    #[arg(long, value_name = "FILE")]
    pub roles: PathBuf,
    /// Your custom roles: `az role definition list --custom-role-only -o json` (the built-in
    /// Session Executor, Owner, Contributor and Reader are known without it)
    #[arg(long, value_name = "FILE")]
    pub role_definitions: Option<PathBuf>,
    /// A group's members, `az ad group member list --group <id> -o json`, as `[GROUP_ID=]FILE`
    /// (the id may be left out when one group holds assignments); repeat for several groups
    #[arg(long, value_name = "[GROUP_ID=]FILE")]
    pub group_members: Vec<String>,
}

impl AzArgs {
    fn read(&self) -> Result<AzFiles, crate::evidence::AzError> {
        AzFiles::read(&self.app, Some(&self.pool), Some(&self.roles))?
            .with_definitions(self.role_definitions.as_deref())?
            .with_group_members(&self.group_members)
    }
}

/// `import`: write the scenario of the user's world (to `output`, or standard output).
pub fn import_command(files: &AzArgs, output: Option<&Path>, images: Images) -> ExitCode {
    let imported = match files.read().and_then(|f| import(&f)) {
        Ok(imported) => imported,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let world = &imported.world;
    let mut header = vec![
        "Imported by `session-pool-harness import` from the user's own az output:".to_owned(),
        format!("  --app   {}", files.app.display()),
        format!("  --pool  {}", files.pool.display()),
        format!("  --roles {}", files.roles.display()),
    ];
    header.extend(imported.notes.iter().map(|n| format!("- {n}")));
    header.extend(image_notes(world, images));
    header.extend([
        "No [expect]: `session-pool-harness run <this file>` reports the diagnosis and its fix.".to_owned(),
        "To drive your own backend instead of the reference one, add [backend.process] (command, ready_path):".to_owned(),
        "it gets the app's settings above, with the stand-ins' addresses in place of the real endpoints.".to_owned(),
    ]);
    let description = format!(
        "Imported from az JSON: app {} and pool {} as Azure has them; one print(42) request.",
        world.app.name, world.pool.name
    );
    let text = scenario_text(world, &description, &header, images);
    // What import writes must load: a failure here is the harness's bug, said as such.
    let written_as = output.map_or_else(|| PathBuf::from("imported.toml"), Path::to_owned);
    if let Err(error) = Scenario::parse(&written_as, &text) {
        eprintln!(
            "error: the imported scenario does not load ({error}); please report this with your files' shapes"
        );
        return ExitCode::from(2);
    }
    match output {
        Some(path) => match std::fs::write(path, &text) {
            Ok(()) => {
                eprintln!(
                    "wrote {}: run it with `session-pool-harness run {}`",
                    path.display(),
                    path.display()
                );
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: cannot write {}: {error}", path.display());
                ExitCode::from(2)
            }
        },
        None => {
            print!("{text}");
            ExitCode::SUCCESS
        }
    }
}

/// What the imported file does with the team's images, said in its header.
fn image_notes(world: &crate::world::World, images: Images) -> Vec<String> {
    let mut notes = Vec::new();
    let custom = world.pool.is_custom() && world.pool.target_port.is_some();
    match images {
        Images::Run => {
            if let Some(image) = &world.app.image {
                let port = world.app.target_port.map_or_else(
                    || "80 (the app has no ingress target port in these files: set [backend.image] port)".to_owned(),
                    |p| p.to_string(),
                );
                notes.push(format!(
                    "- backend: your image {image}, listening on port {port} ([backend.image])"
                ));
            }
            if let (Some(image), true) = (&world.pool.image, custom) {
                notes.push(format!("- session container: your image {image} on the pool's target port ([world.pool.container] image)"));
            }
        }
        Images::Recorded => {
            if let Some(image) = &world.app.image {
                notes.push(format!("- backend: the reference backend stands in for your image {image} ([world.app] image; `import --images` runs yours)"));
            }
            if let (Some(image), true) = (&world.pool.image, custom) {
                notes.push(format!("- session container: the reference adapter stands in for your image {image} ([world.pool] image; `import --images` runs yours)"));
            }
        }
    }
    notes
}

/// `check`: every misconfiguration at once. Exit 0 clean, 1 findings, 2 unusable input.
pub fn check_command(files: &AzArgs, format: Format, sdks: &[crate::world::Sdk]) -> ExitCode {
    let imported = match files.read().and_then(|f| import(&f)) {
        Ok(imported) => imported,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let sdks = (!sdks.is_empty()).then_some(sdks);
    let findings = check_for(&imported.world, sdks, std::time::SystemTime::now());
    // What a run of the imported world would check: the team's images, or reference parts in
    // their place (check itself runs nothing).
    let parts = imported.world.players(crate::world::BackendPlayer::Reference);
    match format {
        Format::Json => {
            let findings: Vec<serde_json::Value> = findings.iter().map(|f| serde_json::json!({ "id": f.id, "explanation": f.explanation, "fix": f.fix })).collect();
            let substitutes: Vec<_> = parts.iter().filter(|p| p.is_substitute()).collect();
            println!(
                "{}",
                serde_json::to_string_pretty(
                    &serde_json::json!({ "findings": findings, "substitutes": substitutes })
                )
                .expect("findings serialise")
            );
        }
        Format::Text if findings.is_empty() => {
            println!(
                "no findings: app {} and pool {} are configured as a working session-pool caller needs",
                imported.world.app.name, imported.world.pool.name
            );
        }
        Format::Text => {
            for finding in &findings {
                println!("{}: {}\n  fix: {}", finding.id, finding.explanation, finding.fix);
            }
            println!(
                "\n{} finding(s) in app {} and pool {}",
                findings.len(),
                imported.world.app.name,
                imported.world.pool.name
            );
        }
    }
    if format == Format::Text {
        let notes = crate::diagnosis::check::notes(&imported.world);
        for note in notes.iter().filter(|n| sdks.is_none() || !n.starts_with("C++")) {
            println!("note: {note}");
        }
        for part in parts.iter().filter(|p| p.is_substitute()) {
            println!(
                "note: a run of the imported world plays the {part} (`import --images` runs yours)"
            );
        }
    }
    if findings.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) }
}
