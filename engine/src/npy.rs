//! Streaming writer of float32 `.npy` files (NumPy format 1.0) whose first axis grows as
//! windows arrive, so a long file's features are written in bounded memory. The file is
//! written beside its destination and renamed into place when complete, so a reader never
//! sees a half-written array.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Bytes before the data: magic, version, header length and the padded header dictionary.
/// 128 leaves room for any first-axis length and keeps the data 64-byte aligned.
const PREAMBLE: usize = 128;

/// Writes `[n, inner_shape…]` float32 arrays one `inner_shape` slab at a time.
pub struct NpyWriter {
    path: PathBuf,
    partial: PathBuf,
    file: BufWriter<File>,
    inner_shape: Vec<usize>,
    slab: usize,
    rows: u64,
    finished: bool,
}

impl NpyWriter {
    /// Starts `path`, an array whose rows are shaped `inner_shape`.
    pub fn create(path: &Path, inner_shape: &[usize]) -> Result<Self> {
        let partial = path.with_extension("npy.partial");
        let file = File::create(&partial).map_err(|e| write_error(&partial, e))?;
        let mut writer = Self {
            path: path.to_owned(),
            partial,
            file: BufWriter::new(file),
            inner_shape: inner_shape.to_vec(),
            slab: inner_shape.iter().product(),
            rows: 0,
            finished: false,
        };
        writer.write_preamble()?;
        Ok(writer)
    }

    /// Appends one row of `inner_shape` values in C order.
    pub fn append(&mut self, values: &[f32]) -> Result<()> {
        if values.len() != self.slab {
            return Err(Error::Invalid(format!(
                "{}: a row has {} values, expected {}",
                self.path.display(),
                values.len(),
                self.slab
            )));
        }
        for v in values {
            self.file
                .write_all(&v.to_le_bytes())
                .map_err(|e| write_error(&self.partial, e))?;
        }
        self.rows += 1;
        Ok(())
    }

    /// Writes the final shape into the header, flushes to disk and renames into place.
    pub fn finish(mut self) -> Result<()> {
        self.file
            .seek(SeekFrom::Start(0))
            .map_err(|e| write_error(&self.partial, e))?;
        self.write_preamble()?;
        self.file
            .flush()
            .map_err(|e| write_error(&self.partial, e))?;
        self.file
            .get_ref()
            .sync_all()
            .map_err(|e| write_error(&self.partial, e))?;
        std::fs::rename(&self.partial, &self.path).map_err(|e| write_error(&self.path, e))?;
        self.finished = true;
        Ok(())
    }

    fn write_preamble(&mut self) -> Result<()> {
        let shape: Vec<String> = std::iter::once(self.rows.to_string())
            .chain(self.inner_shape.iter().map(usize::to_string))
            .collect();
        let mut header = format!(
            "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}), }}",
            shape.join(", ")
        );
        let header_len = PREAMBLE - 10;
        header.extend(std::iter::repeat_n(' ', header_len - 1 - header.len()));
        header.push('\n');
        let mut preamble = b"\x93NUMPY\x01\x00".to_vec();
        preamble.extend((header_len as u16).to_le_bytes());
        preamble.extend(header.as_bytes());
        self.file
            .write_all(&preamble)
            .map_err(|e| write_error(&self.partial, e))
    }
}

impl Drop for NpyWriter {
    /// An array abandoned before [`NpyWriter::finish`] leaves no partial file behind.
    fn drop(&mut self) {
        if !self.finished {
            let _ = std::fs::remove_file(&self.partial);
        }
    }
}

fn write_error(path: &Path, e: std::io::Error) -> Error {
    Error::Write {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    #[test]
    fn written_arrays_read_back_with_their_shape() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.npy");
        let mut writer = NpyWriter::create(&path, &[2, 3]).unwrap();
        writer.append(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]).unwrap();
        writer
            .append(&[-1.0, -2.0, -3.0, -4.0, -5.0, f32::MAX])
            .unwrap();
        assert!(writer.append(&[1.0]).is_err());
        writer.finish().unwrap();
        let back: Array3<f32> = ndarray_npy::read_npy(&path).unwrap();
        assert_eq!(back.shape(), &[2, 2, 3]);
        assert_eq!(back[[0, 1, 2]], 6.0);
        assert_eq!(back[[1, 1, 2]], f32::MAX);
        assert!(!dir.path().join("x.npy.partial").exists());
    }
}
