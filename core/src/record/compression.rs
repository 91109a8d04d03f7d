//! The four codecs a v2 batch may use, in the framings Kafka clients write and read:
//!
//! - gzip: a gzip member (RFC 1952).
//! - snappy: the xerial `SnappyOutputStream` framing the Java client writes (magic header, then
//!   length-prefixed raw snappy blocks). Decoding also accepts a plain raw snappy block, which
//!   xerial's reader accepts too.
//! - lz4: the standard LZ4 frame format with independent 64 KiB blocks, as Kafka's `Lz4BlockOutputStream`
//!   writes it; any valid LZ4 frame decodes.
//! - zstd: a zstd frame; the native build uses libzstd, the wasm build the pure-Rust `ruzstd`.
//!
//! Every decompression is bounded: output beyond `limit` bytes is an error, never an allocation.

use std::io::{Read, Write};

use super::RecordError;

/// A batch's compression codec, as attributes bits 0-2 carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    pub fn from_id(id: i16) -> Result<Self, RecordError> {
        Ok(match id {
            0 => Compression::None,
            1 => Compression::Gzip,
            2 => Compression::Snappy,
            3 => Compression::Lz4,
            4 => Compression::Zstd,
            other => return Err(RecordError::UnknownCompression(other)),
        })
    }

    pub fn id(self) -> i16 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// The name Kafka's `compression.type` config uses.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    /// Parses a `compression.type` value (`none`, `gzip`, `snappy`, `lz4`, `zstd`).
    pub fn from_name(name: &str) -> Option<Self> {
        [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd]
            .into_iter()
            .find(|c| c.name() == name)
    }
}

const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
const XERIAL_HEADER_LEN: usize = 16;
/// The block size of xerial's `SnappyOutputStream` as the Java client creates it.
const XERIAL_BLOCK_SIZE: usize = 32 * 1024;

fn failed(codec: &'static str) -> impl Fn(std::io::Error) -> RecordError {
    move |e| RecordError::CompressionFailed { codec, message: e.to_string() }
}

fn corrupt(codec: &'static str, message: impl ToString) -> RecordError {
    RecordError::Decompression { codec, message: message.to_string() }
}

/// Compresses `data` with `codec` (`None` returns a copy).
pub fn compress(codec: Compression, data: &[u8]) -> Result<Vec<u8>, RecordError> {
    match codec {
        Compression::None => Ok(data.to_vec()),
        Compression::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(data).map_err(failed("gzip"))?;
            enc.finish().map_err(failed("gzip"))
        }
        Compression::Snappy => {
            let mut out = Vec::with_capacity(XERIAL_HEADER_LEN + snap::raw::max_compress_len(data.len()));
            out.extend_from_slice(&XERIAL_MAGIC);
            out.extend_from_slice(&1i32.to_be_bytes());
            out.extend_from_slice(&1i32.to_be_bytes());
            let mut encoder = snap::raw::Encoder::new();
            let mut block = vec![0u8; snap::raw::max_compress_len(XERIAL_BLOCK_SIZE)];
            for chunk in data.chunks(XERIAL_BLOCK_SIZE) {
                let n = encoder
                    .compress(chunk, &mut block)
                    .map_err(|e| RecordError::CompressionFailed { codec: "snappy", message: e.to_string() })?;
                out.extend_from_slice(&(n as i32).to_be_bytes());
                out.extend_from_slice(&block[..n]);
            }
            Ok(out)
        }
        Compression::Lz4 => {
            let info = lz4_flex::frame::FrameInfo::new()
                .block_size(lz4_flex::frame::BlockSize::Max64KB)
                .block_mode(lz4_flex::frame::BlockMode::Independent);
            let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, Vec::new());
            enc.write_all(data).map_err(failed("lz4"))?;
            enc.finish().map_err(|e| RecordError::CompressionFailed { codec: "lz4", message: e.to_string() })
        }
        Compression::Zstd => zstd_compress(data),
    }
}

/// Decompresses `data`, refusing to produce more than `limit` bytes.
pub fn decompress(codec: Compression, data: &[u8], limit: usize) -> Result<Vec<u8>, RecordError> {
    match codec {
        Compression::None => {
            if data.len() > limit {
                return Err(RecordError::DecompressedTooLarge { limit });
            }
            Ok(data.to_vec())
        }
        Compression::Gzip => read_bounded("gzip", flate2::read::GzDecoder::new(data), limit),
        Compression::Snappy => snappy_decompress(data, limit),
        Compression::Lz4 => read_bounded("lz4", lz4_flex::frame::FrameDecoder::new(data), limit),
        Compression::Zstd => zstd_decompress(data, limit),
    }
}

fn read_bounded(codec: &'static str, reader: impl Read, limit: usize) -> Result<Vec<u8>, RecordError> {
    let mut out = Vec::new();
    reader.take(limit as u64 + 1).read_to_end(&mut out).map_err(|e| corrupt(codec, e))?;
    if out.len() > limit {
        return Err(RecordError::DecompressedTooLarge { limit });
    }
    Ok(out)
}

fn snappy_decompress(data: &[u8], limit: usize) -> Result<Vec<u8>, RecordError> {
    let mut decoder = snap::raw::Decoder::new();
    let mut out = Vec::new();
    let mut block = |compressed: &[u8], out: &mut Vec<u8>| -> Result<(), RecordError> {
        let len = snap::raw::decompress_len(compressed).map_err(|e| corrupt("snappy", e))?;
        if out.len() + len > limit {
            return Err(RecordError::DecompressedTooLarge { limit });
        }
        let start = out.len();
        out.resize(start + len, 0);
        decoder.decompress(compressed, &mut out[start..]).map_err(|e| corrupt("snappy", e))?;
        Ok(())
    };
    if data.len() < XERIAL_HEADER_LEN || data[..8] != XERIAL_MAGIC {
        block(data, &mut out)?;
        return Ok(out);
    }
    let mut rest = &data[XERIAL_HEADER_LEN..];
    while !rest.is_empty() {
        if rest.len() < 4 {
            return Err(corrupt("snappy", "truncated xerial block length"));
        }
        let len = i32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]);
        rest = &rest[4..];
        if len < 0 || len as usize > rest.len() {
            return Err(corrupt("snappy", "xerial block overruns the data"));
        }
        let (compressed, tail) = rest.split_at(len as usize);
        block(compressed, &mut out)?;
        rest = tail;
    }
    Ok(out)
}

#[cfg(feature = "native")]
fn zstd_compress(data: &[u8]) -> Result<Vec<u8>, RecordError> {
    // Level 3 is zstd's default and what the Java client uses unless compression.zstd.level says otherwise.
    zstd::bulk::compress(data, 3).map_err(failed("zstd"))
}

#[cfg(feature = "native")]
fn zstd_decompress(data: &[u8], limit: usize) -> Result<Vec<u8>, RecordError> {
    let decoder = zstd::stream::read::Decoder::with_buffer(data).map_err(|e| corrupt("zstd", e))?;
    read_bounded("zstd", decoder, limit)
}

#[cfg(any(not(feature = "native"), test))]
fn zstd_compress_pure(data: &[u8]) -> Vec<u8> {
    ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
}

#[cfg(any(not(feature = "native"), test))]
fn zstd_decompress_pure(data: &[u8], limit: usize) -> Result<Vec<u8>, RecordError> {
    let mut source = data;
    let decoder = ruzstd::decoding::StreamingDecoder::new(&mut source).map_err(|e| corrupt("zstd", e))?;
    read_bounded("zstd", decoder, limit)
}

#[cfg(not(feature = "native"))]
fn zstd_compress(data: &[u8]) -> Result<Vec<u8>, RecordError> {
    Ok(zstd_compress_pure(data))
}

#[cfg(not(feature = "native"))]
fn zstd_decompress(data: &[u8], limit: usize) -> Result<Vec<u8>, RecordError> {
    zstd_decompress_pure(data, limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Compression; 5] =
        [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd];

    fn sample(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8 ^ (i / 1000) as u8).collect()
    }

    #[test]
    fn every_codec_round_trips_small_and_multi_block_data() {
        for codec in ALL {
            for len in [0, 1, 100, 70_000, 300_000] {
                let data = sample(len);
                let packed = compress(codec, &data).unwrap();
                assert_eq!(decompress(codec, &packed, len).unwrap(), data, "{codec:?} len {len}");
            }
        }
    }

    #[test]
    fn decompression_is_bounded() {
        for codec in ALL {
            let data = vec![0u8; 100_000];
            let packed = compress(codec, &data).unwrap();
            assert_eq!(
                decompress(codec, &packed, 99_999),
                Err(RecordError::DecompressedTooLarge { limit: 99_999 }),
                "{codec:?}"
            );
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for codec in [Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
            for garbage in [&b""[..], &b"\x00\x01\x02"[..], &XERIAL_MAGIC[..], &[0xffu8; 64][..]] {
                let _ = decompress(codec, garbage, 1 << 20);
            }
        }
        assert!(decompress(Compression::Gzip, b"not gzip", 1 << 20).is_err());
    }

    #[test]
    fn snappy_accepts_raw_blocks_as_xerial_readers_do() {
        let data = sample(5000);
        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert_eq!(decompress(Compression::Snappy, &raw, 1 << 20).unwrap(), data);
    }

    #[test]
    fn pure_rust_zstd_interoperates_with_libzstd() {
        let data = sample(200_000);
        let native = compress(Compression::Zstd, &data).unwrap();
        assert_eq!(zstd_decompress_pure(&native, data.len()).unwrap(), data);
        let pure = zstd_compress_pure(&data);
        assert_eq!(decompress(Compression::Zstd, &pure, data.len()).unwrap(), data);
    }
}
