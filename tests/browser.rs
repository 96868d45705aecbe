//! The HTML report in a real browser (headless Chromium): what it lays out, measured by a probe page.
//!
//! Without Chromium (none on `PATH`, or `SESSION_POOL_HARNESS_CHROMIUM` naming none) the test is reported
//! as ignored, with the reason and the install command; under `CI=true` it fails instead.

#[path = "harness/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::path::{Path, PathBuf};
use std::process::Command;

use helpers::{REPORTED, report, root, unique};
use libtest_mimic::{Arguments, Failed, Trial};

const INSTALL: &str = "apt-get install chromium (Debian), or set SESSION_POOL_HARNESS_CHROMIUM to a Chromium or Chrome";

fn main() -> std::process::ExitCode {
    let args = Arguments::from_args();
    let found = chromium();
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let ignored = found.is_err() && !in_ci;
    if let (Err(why), false) = (&found, in_ci) {
        eprintln!("browser: ignored: {why}; to run it: {INSTALL}");
    }
    let trial =
        Trial::test("the_html_report_renders_in_chromium_with_the_failing_hop_marked", move || {
            match &found {
                Ok(chromium) => {
                    std::panic::catch_unwind(|| renders_with_the_failing_hop_marked(chromium))
                        .map_err(|panic| {
                            panic
                                .downcast_ref::<String>()
                                .cloned()
                                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                                .unwrap_or_else(|| "the browser test failed".into())
                                .into()
                        })
                }
                Err(why) => {
                    Err(Failed::from(format!("the browser test cannot run: {why}; {INSTALL}")))
                }
            }
        })
        .with_ignored_flag(ignored);
    libtest_mimic::run(&args, vec![trial]).exit_code()
}

/// Chromium, or why the browser test cannot run.
fn chromium() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("SESSION_POOL_HARNESS_CHROMIUM") {
        let path = PathBuf::from(path);
        return match path.is_file() {
            true => Ok(path),
            false => Err(format!(
                "SESSION_POOL_HARNESS_CHROMIUM names {}, which is no program",
                path.display()
            )),
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            if dir.join(name).is_file() {
                return Ok(dir.join(name));
            }
        }
    }
    Err("no Chromium on PATH".into())
}

fn headless(chromium: &Path, args: &[&str]) -> std::process::Output {
    Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
        ])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", chromium.display()))
}

/// Share of pixels that differ from the top-left one.
fn ink(png_file: &Path) -> f64 {
    let decoder =
        png::Decoder::new(std::io::BufReader::new(std::fs::File::open(png_file).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    let step = info.color_type.samples();
    let pixels = &pixels[..info.buffer_size()];
    let background = &pixels[..step];
    let differing = pixels.chunks(step).filter(|p| *p != background).count();
    differing as f64 / (pixels.len() / step) as f64
}

fn renders_with_the_failing_hop_marked(chromium: &Path) {
    let chromium = chromium.to_path_buf();
    let dir = std::env::temp_dir().join(format!("sph-browser-{}", unique()));
    std::fs::create_dir_all(&dir).unwrap();
    // The whole suite, as `run scenarios/ --format html > report.html` writes it.
    std::fs::write(dir.join("report.html"), report("html", &["scenarios/"])).unwrap();
    std::fs::copy(root("fixtures/browser/probe.html"), dir.join("probe.html")).unwrap();
    let scenarios = session_pool_harness::Scenario::load_all(&[root("scenarios")]).unwrap();

    // What Chromium laid out, measured by the probe page around the report.
    let probe = format!("file://{}", dir.join("probe.html").display());
    let dom = headless(
        &chromium,
        &["--allow-file-access-from-files", "--virtual-time-budget=10000", "--dump-dom", &probe],
    );
    let dom = String::from_utf8_lossy(&dom.stdout);
    let json = dom
        .split_once("<pre id=\"result\">")
        .and_then(|(_, rest)| rest.split_once("</pre>"))
        .map(|(json, _)| {
            json.replace("&quot;", "\"")
                .replace("&amp;", "&")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
        })
        .unwrap_or_else(|| panic!("the probe wrote no result:\n{dom}"));
    let seen: serde_json::Value =
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    assert_eq!((seen["scripts"].as_u64(), seen["external"].as_u64()), (Some(0), Some(0)), "{seen}");
    assert_eq!(seen["index_rows"], scenarios.len(), "{seen}");
    let sections = seen["sections"].as_array().unwrap();
    assert_eq!(sections.len(), scenarios.len());
    assert!(sections.iter().all(|s| s["diagrams"] == 1), "one diagram per scenario: {seen}");
    let section = |name: &str| {
        seen["sections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name}: {seen}"))
    };
    let happy = section("happy-path");
    assert_eq!(happy["diagrams"], 1);
    assert_eq!(
        happy["participants"],
        serde_json::json!(["client", "backend", "identity", "pool", "container", "piston"])
    );
    assert_eq!(happy["arrows"], 9, "{happy}");
    assert_eq!(happy["marked"], serde_json::json!([]));
    let missing_role = section("missing-role");
    assert_eq!(
        missing_role["participants"],
        serde_json::json!(["client", "backend", "identity", "pool"])
    );
    assert_eq!(missing_role["arrows"], 3);
    assert_eq!(missing_role["marked"], serde_json::json!(["backend->pool 403"]));
    assert_eq!(
        missing_role["marked_colour"],
        serde_json::json!(["rgb(207, 34, 46)"]),
        "the refused arrow is red"
    );
    assert!(
        missing_role["fix"].as_str().unwrap().starts_with("az role assignment create --assignee")
    );
    let identity = section("identity-not-specified");
    assert_eq!(identity["marked"], serde_json::json!(["backend->identity 400"]));
    assert_eq!(identity["diagnoses"], serde_json::json!(["identity-not-specified"]));

    // And it is a picture, not a blank page (three scenarios: docs/reports.md shows this screenshot).
    let three = dir.join("three.html");
    std::fs::write(&three, report("html", &REPORTED)).unwrap();
    let shot = dir.join("report.png");
    let screenshot = format!("--screenshot={}", shot.display());
    let report_url = format!("file://{}", three.display());
    let taken = headless(&chromium, &["--window-size=1280,1500", &screenshot, &report_url]);
    assert!(shot.exists(), "no screenshot: {}", String::from_utf8_lossy(&taken.stderr));
    let ink = ink(&shot);
    assert!(ink > 0.03, "the screenshot is nearly blank ({:.1} % ink)", ink * 100.0);
    if std::env::var_os("UPDATE_SCREENSHOT").is_some() {
        std::fs::copy(&shot, root("docs/report.png")).unwrap();
    }
    let _ = std::fs::remove_dir_all(&dir);
}
