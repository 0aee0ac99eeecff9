//! The feature cache: the engine's features of every 3 s window of a render (or user file),
//! computed once and read back memory-mapped, so training epochs never recompute features.
//!
//! One file per track (`<id>.kfc`), little-endian:
//!
//! | bytes | content |
//! |---|---|
//! | 0..8 | magic `b"KNDFCACH"` |
//! | 8..12 | format version, u32 ([`CACHE_VERSION`]) |
//! | 12..16 | windows, u32 |
//! | 16..20 | mel rows (128), u32 |
//! | 20..24 | CENS rows (12), u32 |
//! | 24..28 | tempogram rows (384), u32 |
//! | 28..32 | frames per window (259), u32 |
//! | 32..36 | sample rate (22 050), u32 |
//! | 36..64 | zero |
//! | 64.. | per window: mel `[128, 259]`, CENS `[12, 259]`, tempogram `[384, 259]`, f32 row-major |
//!
//! Mel is the engine's compressed `log10(1 + 10·S)`, not standardised (the model stores the
//! training-set mean/std); CENS is unpadded (the model pads it to 16 rows). One window takes
//! (128 + 12 + 384) × 259 × 4 = 542 864 bytes (about 181 kB per second of audio). A file is
//! written to a temporary name and renamed when complete, so a crash never leaves a partial
//! cache that looks valid.

use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use kindred_engine::FrontEndConfig;
use kindred_engine::features::Features;
use memmap2::Mmap;
use ndarray::ArrayView2;

use crate::{Error, Result};

/// File magic.
pub const MAGIC: &[u8; 8] = b"KNDFCACH";
/// Version of the layout above; bump on any change.
pub const CACHE_VERSION: u32 = 1;
/// Header bytes before the first window.
pub const HEADER_BYTES: usize = 64;

/// Shapes of the cached features.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheShape {
    pub mel_rows: usize,
    pub cens_rows: usize,
    pub tempogram_rows: usize,
    pub frames: usize,
    pub sample_rate: u32,
}

impl CacheShape {
    /// The shapes the engine computes for `cfg`.
    pub fn of(cfg: &FrontEndConfig) -> Self {
        Self {
            mel_rows: cfg.n_mels,
            cens_rows: 12,
            tempogram_rows: cfg.tempogram_win,
            frames: cfg.frames(),
            sample_rate: cfg.sample_rate,
        }
    }

    /// f32 values per window.
    pub fn window_len(&self) -> usize {
        (self.mel_rows + self.cens_rows + self.tempogram_rows) * self.frames
    }

    fn header(&self, windows: u32) -> [u8; HEADER_BYTES] {
        let mut h = [0u8; HEADER_BYTES];
        h[..8].copy_from_slice(MAGIC);
        let fields = [
            CACHE_VERSION,
            windows,
            self.mel_rows as u32,
            self.cens_rows as u32,
            self.tempogram_rows as u32,
            self.frames as u32,
            self.sample_rate,
        ];
        for (i, v) in fields.iter().enumerate() {
            h[8 + 4 * i..12 + 4 * i].copy_from_slice(&v.to_le_bytes());
        }
        h
    }
}

/// Writes one cache file window by window; [`finish`](Self::finish) makes it visible.
pub struct CacheWriter {
    out: BufWriter<File>,
    tmp: PathBuf,
    path: PathBuf,
    shape: CacheShape,
    windows: u32,
}

impl CacheWriter {
    /// Starts `path` (written as `path.tmp` until finished).
    pub fn create(path: &Path, shape: CacheShape) -> Result<Self> {
        let tmp = path.with_extension("kfc.tmp");
        let mut out = BufWriter::new(File::create(&tmp).map_err(Error::io(&tmp))?);
        out.write_all(&shape.header(0)).map_err(Error::io(&tmp))?;
        Ok(Self {
            out,
            tmp,
            path: path.to_path_buf(),
            shape,
            windows: 0,
        })
    }

    /// Appends one window's features.
    pub fn push(&mut self, f: &Features) -> Result<()> {
        let expect = [
            (f.mel.dim(), (self.shape.mel_rows, self.shape.frames)),
            (f.cens.dim(), (self.shape.cens_rows, self.shape.frames)),
            (
                f.tempogram.dim(),
                (self.shape.tempogram_rows, self.shape.frames),
            ),
        ];
        for (got, want) in expect {
            if got != want {
                return Err(Error::Invalid(format!(
                    "feature shape {got:?}, cache expects {want:?}"
                )));
            }
        }
        for array in [&f.mel, &f.cens, &f.tempogram] {
            for &v in array.iter() {
                self.out
                    .write_all(&v.to_le_bytes())
                    .map_err(Error::io(&self.tmp))?;
            }
        }
        self.windows += 1;
        Ok(())
    }

    /// Windows written so far.
    pub fn windows(&self) -> u32 {
        self.windows
    }

    /// Writes the final header, syncs and renames the file into place.
    pub fn finish(mut self) -> Result<u32> {
        let io = Error::io(&self.tmp);
        let header = self.shape.header(self.windows);
        (|| {
            self.out.flush()?;
            let file = self.out.get_mut();
            file.seek(SeekFrom::Start(0))?;
            file.write_all(&header)?;
            file.sync_all()
        })()
        .map_err(io)?;
        std::fs::rename(&self.tmp, &self.path).map_err(Error::io(&self.path))?;
        Ok(self.windows)
    }
}

/// A cache file opened memory-mapped, read without copying.
pub struct FeatureCache {
    map: Mmap,
    shape: CacheShape,
    windows: usize,
    path: PathBuf,
}

/// The features of one cached window, borrowed from the map.
pub struct WindowView<'a> {
    pub mel: ArrayView2<'a, f32>,
    pub cens: ArrayView2<'a, f32>,
    pub tempogram: ArrayView2<'a, f32>,
}

impl FeatureCache {
    /// Opens and validates `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let bad = |reason: String| Error::Cache {
            path: path.to_path_buf(),
            reason,
        };
        if cfg!(target_endian = "big") {
            return Err(bad("the cache is little-endian; this machine is not".into()));
        }
        let file = File::open(path).map_err(Error::io(path))?;
        // SAFETY: cache files are written once (temp + rename) and never modified in place.
        let map = unsafe { Mmap::map(&file) }.map_err(Error::io(path))?;
        if map.len() < HEADER_BYTES || &map[..8] != MAGIC {
            return Err(bad("not a Kindred feature cache".into()));
        }
        let field = |i: usize| u32::from_le_bytes(map[8 + 4 * i..12 + 4 * i].try_into().unwrap());
        if field(0) != CACHE_VERSION {
            return Err(bad(format!(
                "format version {}, this build reads version {CACHE_VERSION}; rebuild the cache",
                field(0)
            )));
        }
        let windows = field(1) as usize;
        let shape = CacheShape {
            mel_rows: field(2) as usize,
            cens_rows: field(3) as usize,
            tempogram_rows: field(4) as usize,
            frames: field(5) as usize,
            sample_rate: field(6),
        };
        let want = HEADER_BYTES + windows * shape.window_len() * 4;
        if map.len() != want {
            return Err(bad(format!("{} bytes, expected {want}", map.len())));
        }
        if !(map.as_ptr() as usize).is_multiple_of(std::mem::align_of::<f32>()) {
            return Err(bad("mapping is not aligned for f32".into()));
        }
        Ok(Self {
            map,
            shape,
            windows,
            path: path.to_path_buf(),
        })
    }

    /// The file this cache maps.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of windows.
    pub fn windows(&self) -> usize {
        self.windows
    }

    /// Feature shapes.
    pub fn shape(&self) -> CacheShape {
        self.shape
    }

    /// All values as f32.
    fn values(&self) -> &[f32] {
        let bytes = &self.map[HEADER_BYTES..];
        // SAFETY: alignment was checked in `open` (the header is 64 bytes and maps are page
        // aligned), the length is a multiple of 4, and every bit pattern is a valid f32.
        unsafe { std::slice::from_raw_parts(bytes.as_ptr() as *const f32, bytes.len() / 4) }
    }

    /// The features of window `i` (panics if `i >= windows()`).
    pub fn window(&self, i: usize) -> WindowView<'_> {
        assert!(i < self.windows, "window {i} of {}", self.windows);
        let s = self.shape;
        let all = &self.values()[i * s.window_len()..(i + 1) * s.window_len()];
        let (mel, rest) = all.split_at(s.mel_rows * s.frames);
        let (cens, tempogram) = rest.split_at(s.cens_rows * s.frames);
        let view = |rows: usize, data| ArrayView2::from_shape((rows, s.frames), data).unwrap();
        WindowView {
            mel: view(s.mel_rows, mel),
            cens: view(s.cens_rows, cens),
            tempogram: view(s.tempogram_rows, tempogram),
        }
    }
}
