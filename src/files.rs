//! Reading the user's files: regular files only, of a bounded size, so that a FIFO named
//! `*.toml`, `extends = "/dev/zero"` or a multi-gigabyte log can neither hang a command nor fill
//! its memory. Standard input (`-` where a command takes it) is read with the same bound.

use std::io::Read;
use std::path::Path;

/// The largest file read whole (scenarios, `az` JSON, pasted texts): 16 MiB.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// The text of `path`, refused with a clear reason when it is not a regular file (a FIFO, a
/// device, a socket, a folder) or is larger than [`MAX_FILE_BYTES`].
pub fn read_text(path: &Path) -> std::io::Result<String> {
    utf8(read_bytes(path)?)
}

/// The bytes of `path`, with the checks of [`read_text`] (for texts decoded by their caller).
pub fn read_bytes(path: &Path) -> std::io::Result<Vec<u8>> {
    let metadata = std::fs::metadata(path)?;
    if !metadata.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file (a FIFO, a device, a socket or a folder): give a file's path",
        ));
    }
    if metadata.len() > MAX_FILE_BYTES {
        return Err(too_large(metadata.len()));
    }
    read_bounded_bytes(std::fs::File::open(path)?)
}

/// All of `reader` as UTF-8 text, refused when longer than [`MAX_FILE_BYTES`] (a file that grew
/// after its size was read, or standard input).
pub fn read_bounded(reader: impl Read) -> std::io::Result<String> {
    utf8(read_bounded_bytes(reader)?)
}

/// All of `reader`'s bytes, with the bound of [`read_bounded`].
pub fn read_bounded_bytes(reader: impl Read) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large(bytes.len() as u64));
    }
    Ok(bytes)
}

fn utf8(bytes: Vec<u8>) -> std::io::Result<String> {
    String::from_utf8(bytes).map_err(|e| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, format!("not UTF-8 text: {e}"))
    })
}

fn too_large(len: u64) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!(
            "{len} bytes or more: larger than the {} MiB the harness reads; give the part that matters",
            MAX_FILE_BYTES / 1024 / 1024
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_is_refused_at_once_instead_of_read_forever() {
        let error = read_text(Path::new("/dev/zero")).unwrap_err();
        assert!(error.to_string().contains("not a regular file"), "{error}");
    }

    #[test]
    fn a_reader_longer_than_the_bound_is_refused_after_reading_only_the_bound() {
        let endless = std::io::repeat(b'a');
        let error = read_bounded(endless).unwrap_err();
        assert!(error.to_string().contains("larger than the 16 MiB"), "{error}");
    }

    #[test]
    fn a_folder_is_not_read_as_a_file() {
        assert!(read_text(Path::new("/")).is_err());
    }
}
