//! A scenario's text and its bases (`extends = "<file>"`), merged into one document whose every
//! value still knows the file and line it came from. `unset = ["world.pool.target_port"]` removes
//! what a base sets (TOML has no null), so "the same world without X" is one line too.
//!
//! Each file is parsed with spans; the spans of the n-th file are shifted into its own range of
//! one virtual address space, so after merging (tables key by key, arrays and values replaced
//! whole) any error's span names its file, line and column.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::ScenarioError;

/// The key naming a base scenario.
pub const EXTENDS: &str = "extends";
/// The key listing dotted paths to remove from the bases before this file is laid over them.
pub const UNSET: &str = "unset";
/// Bases deeper than this are refused (a chain this long is a mistake, not a design).
const MAX_DEPTH: usize = 16;

/// A scenario file and the chain of files it extends, the scenario first.
#[derive(Debug)]
pub struct Sources {
    files: Vec<SourceFile>,
}

#[derive(Debug)]
struct SourceFile {
    path: PathBuf,
    text: String,
    /// Where this file starts in the virtual address space of merged spans.
    offset: usize,
}

impl Sources {
    /// Read the chain of bases of `path` (whose text is `text`), following `extends`.
    pub fn load(path: &Path, text: &str) -> Result<Self, ScenarioError> {
        let mut files =
            vec![SourceFile { path: path.to_owned(), text: text.to_owned(), offset: 0 }];
        let mut seen = vec![canonical(path)];
        loop {
            let current = files.last().expect("at least the scenario");
            let Some((base, at)) = extends_of(current)? else { break };
            let base_path = current.path.parent().unwrap_or(Path::new("")).join(&base);
            let error =
                |message: String| ScenarioError::at(&current.path, &current.text, at, message);
            if files.len() > MAX_DEPTH {
                return Err(error(format!(
                    "more than {MAX_DEPTH} levels of `extends`: flatten the chain"
                )));
            }
            let key = canonical(&base_path);
            if seen.contains(&key) {
                let chain: Vec<String> = files
                    .iter()
                    .map(|f| f.path.display().to_string())
                    .chain([base_path.display().to_string()])
                    .collect();
                return Err(error(format!("`extends` makes a cycle: {}", chain.join(" -> "))));
            }
            let base_text = crate::files::read_text(&base_path).map_err(|e| {
                error(format!(
                    "cannot read the base scenario {} ({e}): `extends` is relative to this file",
                    base_path.display()
                ))
            })?;
            let offset = current.offset + current.text.len() + 1;
            seen.push(key);
            files.push(SourceFile { path: base_path, text: base_text, offset });
        }
        Ok(Self { files })
    }

    /// The merged document, deserialized; an error points at the file and line of its cause.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, ScenarioError> {
        let mut merged: Option<Spanned<DeTable<'_>>> = None;
        for file in self.files.iter().rev() {
            let table = parse(file)?;
            let table = Spanned::new(
                shift(table.span(), file.offset),
                shift_table(table.into_inner(), file.offset),
            );
            let unset = self.unset_paths(&table)?;
            merged = Some(match merged {
                None if unset.is_empty() => table,
                None => {
                    return Err(self.error_at(
                        unset[0].1,
                        "`unset` removes keys set by a base: add `extends = \"<base file>\"`",
                    ));
                }
                Some(base) => {
                    let span = table.span();
                    let mut base = base.into_inner();
                    for (path, at) in unset {
                        remove_path(&mut base, &path)
                            .map_err(|message| self.error_at(at, &message))?;
                    }
                    Spanned::new(span, merge_tables(base, table.into_inner()))
                }
            });
        }
        let merged = merged.expect("at least the scenario");
        T::deserialize(toml::de::Deserializer::from(merged)).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            self.error_at(offset, e.message().trim())
        })
    }

    /// The dotted paths a file's `unset` lists, each with its (virtual) offset.
    fn unset_paths(
        &self,
        table: &Spanned<DeTable<'_>>,
    ) -> Result<Vec<(String, usize)>, ScenarioError> {
        let Some(value) = table.get_ref().get(UNSET) else { return Ok(Vec::new()) };
        let shape = "`unset` is a list of dotted key paths, e.g. [\"world.pool.target_port\"]";
        let DeValue::Array(items) = value.get_ref() else {
            return Err(self.error_at(value.span().start, shape));
        };
        items
            .iter()
            .map(|item| match item.get_ref() {
                DeValue::String(path) => Ok((path.to_string(), item.span().start)),
                _ => Err(self.error_at(item.span().start, shape)),
            })
            .collect()
    }

    /// An error at a virtual offset, in the file that holds it.
    pub fn error_at(&self, offset: usize, message: &str) -> ScenarioError {
        let file = self.files.iter().rev().find(|f| f.offset <= offset).unwrap_or(&self.files[0]);
        ScenarioError::from_toml(&file.path, &file.text, offset - file.offset, message)
    }

    /// An error at the first occurrence of `needle`, searched in the scenario, then in its bases.
    pub fn error_at_text(&self, needle: &str, message: String) -> ScenarioError {
        let found = self.files.iter().find_map(|f| f.text.find(needle).map(|at| (f, at)));
        let (file, at) = found.unwrap_or((&self.files[0], 0));
        ScenarioError::at(&file.path, &file.text, at, message)
    }

    /// An error at the end of the scenario file itself.
    pub fn error_at_end(&self, message: String) -> ScenarioError {
        let file = &self.files[0];
        ScenarioError::at(&file.path, &file.text, file.text.len(), message)
    }
}

fn canonical(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())
}

fn parse(file: &SourceFile) -> Result<Spanned<DeTable<'_>>, ScenarioError> {
    DeTable::parse(&file.text).map_err(|e| {
        ScenarioError::from_toml(
            &file.path,
            &file.text,
            e.span().map_or(0, |s| s.start),
            e.message().trim(),
        )
    })
}

/// The base a file names, and where the name is (its local byte offset).
fn extends_of(file: &SourceFile) -> Result<Option<(String, usize)>, ScenarioError> {
    let table = parse(file)?.into_inner();
    let Some(value) = table.get(EXTENDS) else { return Ok(None) };
    match value.get_ref() {
        DeValue::String(base) => Ok(Some((base.to_string(), value.span().start))),
        _ => Err(ScenarioError::at(
            &file.path,
            &file.text,
            value.span().start,
            "`extends` must be a string: the path of the base scenario, relative to this file"
                .into(),
        )),
    }
}

fn shift(span: std::ops::Range<usize>, by: usize) -> std::ops::Range<usize> {
    span.start + by..span.end + by
}

fn shift_value(value: Spanned<DeValue<'_>>, by: usize) -> Spanned<DeValue<'_>> {
    let span = shift(value.span(), by);
    let inner = match value.into_inner() {
        DeValue::Table(table) => DeValue::Table(shift_table(table, by)),
        DeValue::Array(items) => {
            DeValue::Array(items.into_iter().map(|v| shift_value(v, by)).collect())
        }
        other => other,
    };
    Spanned::new(span, inner)
}

fn shift_table(table: DeTable<'_>, by: usize) -> DeTable<'_> {
    let mut out = DeTable::new();
    for (key, value) in table {
        let key = Spanned::new(shift(key.span(), by), key.into_inner());
        out.insert(key, shift_value(value, by));
    }
    out
}

/// Remove the value at a dotted path; the error says what the bases have there instead.
fn remove_path(table: &mut DeTable<'_>, path: &str) -> Result<(), String> {
    let (parents, last) = match path.rsplit_once('.') {
        Some((parents, last)) => (parents.split('.').collect::<Vec<_>>(), last),
        None => (Vec::new(), path),
    };
    let mut current = table;
    for (depth, key) in parents.iter().enumerate() {
        current = match current.get_mut(*key).map(Spanned::get_mut) {
            Some(DeValue::Table(inner)) => inner,
            _ => {
                return Err(format!(
                    "`unset` names {path}, but the bases have no table {}",
                    parents[..=depth].join(".")
                ));
            }
        };
    }
    if current.remove(last).is_none() {
        let known: Vec<&str> = current.keys().map(|k| k.get_ref().as_ref()).collect();
        let hint = crate::suggest::closest(last, known.iter().copied())
            .map_or_else(String::new, |k| format!("; did you mean `{k}`?"));
        return Err(format!("`unset` names {path}, which no base sets{hint}"));
    }
    Ok(())
}

/// `over` laid over `base`: tables merge key by key, everything else is replaced whole.
fn merge_tables<'i>(mut base: DeTable<'i>, over: DeTable<'i>) -> DeTable<'i> {
    for (key, value) in over {
        let merged = match (base.remove(key.get_ref().as_ref()), value) {
            (Some(old), new)
                if matches!(old.get_ref(), DeValue::Table(_))
                    && matches!(new.get_ref(), DeValue::Table(_)) =>
            {
                let span = new.span();
                let (DeValue::Table(old), DeValue::Table(new)) =
                    (old.into_inner(), new.into_inner())
                else {
                    unreachable!("both are tables")
                };
                Spanned::new(span, DeValue::Table(merge_tables(old, new)))
            }
            (_, new) => new,
        };
        base.insert(key, merged);
    }
    base
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Doc {
        #[allow(dead_code)]
        extends: Option<String>,
        a: Inner,
        list: Vec<u8>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        x: u8,
        y: u8,
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn temp_dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sph-source-{}", crate::ids::guid()));
        std::fs::create_dir_all(dir.join("bases")).unwrap();
        dir
    }

    fn load(path: &Path) -> Result<Sources, ScenarioError> {
        Sources::load(path, &std::fs::read_to_string(path).unwrap())
    }

    #[test]
    fn tables_merge_key_by_key_and_arrays_are_replaced_whole() {
        let dir = temp_dir();
        write(&dir, "bases/base.toml", "list = [1, 2, 3]\n[a]\nx = 1\ny = 2\n");
        let child =
            write(&dir, "child.toml", "extends = \"bases/base.toml\"\nlist = [9]\n[a]\ny = 7\n");

        let doc: Doc = load(&child).unwrap().deserialize().unwrap();

        assert_eq!((doc.a.x, doc.a.y, doc.list), (1, 7, vec![9]));
    }

    #[test]
    fn an_error_in_a_base_points_at_the_base_file_and_line() {
        let dir = temp_dir();
        write(&dir, "bases/base.toml", "list = []\n[a]\nx = 1\ny = \"two\"\n");
        let child = write(&dir, "child.toml", "extends = \"bases/base.toml\"\n[a]\nx = 3\n");

        let err = load(&child).unwrap().deserialize::<Doc>().unwrap_err();

        assert!(err.file.ends_with("bases/base.toml"), "{err}");
        assert_eq!(err.line, 4, "{err}");
    }

    #[test]
    fn an_unknown_key_in_the_child_points_at_the_child() {
        let dir = temp_dir();
        write(&dir, "base.toml", "list = []\n[a]\nx = 1\ny = 2\n");
        let child = write(&dir, "child.toml", "extends = \"base.toml\"\n[a]\nz = 3\n");

        let err = load(&child).unwrap().deserialize::<Doc>().unwrap_err();

        assert!(err.file.ends_with("child.toml") && err.line == 3, "{err}");
        assert!(err.message.contains("unknown field `z`"), "{err}");
    }

    #[test]
    fn a_missing_base_and_a_cycle_are_errors_at_the_extends_line() {
        let dir = temp_dir();
        let missing = write(&dir, "missing.toml", "# a comment\nextends = \"nowhere.toml\"\n");
        let err = load(&missing).unwrap_err();
        assert_eq!(err.line, 2, "{err}");
        assert!(
            err.message.contains("cannot read the base scenario")
                && err.message.contains("nowhere.toml"),
            "{err}"
        );

        write(&dir, "one.toml", "extends = \"two.toml\"\n");
        let two = write(&dir, "two.toml", "\nextends = \"one.toml\"\n");
        let err = load(&two).unwrap_err();
        assert!(err.message.contains("cycle") && err.message.contains("one.toml -> "), "{err}");
    }

    #[test]
    fn unset_removes_what_a_base_sets_and_refuses_what_it_does_not() {
        let dir = temp_dir();
        write(&dir, "base.toml", "list = [1]\n[a]\nx = 1\ny = 2\n");
        let child = write(&dir, "child.toml", "extends = \"base.toml\"\nunset = [\"a.y\"]\n");
        let err = load(&child).unwrap().deserialize::<Doc>().unwrap_err();
        assert!(err.message.contains("missing field `y`"), "the base's y is gone: {err}");

        let typo =
            write(&dir, "typo.toml", "extends = \"base.toml\"\nunset = [\"a.z\", \"b.c\"]\n");
        let err = load(&typo).unwrap().deserialize::<Doc>().unwrap_err();
        assert_eq!((err.line, err.file.ends_with("typo.toml")), (2, true), "{err}");
        assert!(err.message.contains("`unset` names a.z, which no base sets"), "{err}");
    }

    #[test]
    fn extends_must_be_a_string() {
        let dir = temp_dir();
        let bad = write(&dir, "bad.toml", "extends = 3\n");
        assert!(load(&bad).unwrap_err().message.contains("`extends` must be a string"));
    }
}
