use super::*;
use proptest::prelude::*;

fn header(key: &str, value: Option<&[u8]>) -> Header {
    Header { key: key.to_string(), value: value.map(Bytes::copy_from_slice) }
}

fn sample_batch(compression: Compression) -> Vec<u8> {
    let mut b = BatchBuilder::new(compression).base_offset(100);
    b.append(1_700_000_000_000, Some(b"k0"), Some(b"v0"), &[]);
    b.append(1_700_000_000_005, None, None, &[header("dup", Some(b"a")), header("dup", Some(b"b"))]);
    b.append(1_699_999_999_999, Some(b""), Some(&[7u8; 3000]), &[header("nil", None)]);
    b.build().unwrap()
}

#[test]
fn batch_round_trips_with_every_codec() {
    for compression in [Compression::None, Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd]
    {
        let bytes = sample_batch(compression);
        let (h, records) = decode_records(&bytes, DecodeLimits::default()).unwrap();
        assert_eq!(h.compression().unwrap(), compression);
        assert_eq!(h.base_offset, 100);
        assert_eq!(h.last_offset(), 102);
        assert_eq!(h.records_count, 3);
        assert_eq!(h.base_timestamp, 1_700_000_000_000);
        assert_eq!(h.max_timestamp, 1_700_000_000_005);
        assert_eq!(records.len(), 3);
        assert_eq!(records[0].key.as_deref(), Some(&b"k0"[..]));
        assert_eq!(records[1].offset, 101);
        assert_eq!(records[1].key, None);
        assert_eq!(records[1].value, None);
        // Duplicate header keys are kept, in order.
        assert_eq!(records[1].headers, vec![header("dup", Some(b"a")), header("dup", Some(b"b"))]);
        assert_eq!(records[2].timestamp, 1_699_999_999_999);
        assert_eq!(records[2].key.as_deref(), Some(&b""[..]));
        assert_eq!(records[2].headers, vec![header("nil", None)]);
    }
}

#[test]
fn uncompressed_encoding_matches_known_bytes() {
    // One record, key "k", value "v", no headers, timestamp 0, written by hand from the format spec.
    let mut b = BatchBuilder::new(Compression::None);
    b.append(0, Some(b"k"), Some(b"v"), &[]);
    let bytes = b.build().unwrap();
    let record = [0x10, 0x00, 0x00, 0x00, 0x02, b'k', 0x02, b'v', 0x00];
    assert_eq!(bytes.len(), RECORD_BATCH_OVERHEAD + record.len());
    assert_eq!(&bytes[RECORD_BATCH_OVERHEAD..], &record);
    assert_eq!(&bytes[8..12], &((RECORD_BATCH_OVERHEAD - 12 + record.len()) as i32).to_be_bytes());
    assert_eq!(bytes[16], 2);
    assert_eq!(&bytes[43..51], &(-1i64).to_be_bytes());
}

#[test]
fn control_batch_carries_marker() {
    let bytes = BatchBuilder::control_marker(ControlType::Commit, 7, 42, 3, 1000).build().unwrap();
    let (h, records) = decode_records(&bytes, DecodeLimits::default()).unwrap();
    assert!(h.is_control());
    assert!(h.is_transactional());
    assert_eq!((h.producer_id, h.producer_epoch), (42, 3));
    let key = records[0].key.as_ref().unwrap();
    assert_eq!(ControlType::from_key(key).unwrap(), ControlType::Commit);
    assert_eq!(records[0].value.as_deref(), Some(&[0, 0, 0, 0, 0, 7][..]));
}

#[test]
fn validate_refuses_damaged_batches() {
    let good = sample_batch(Compression::None);
    assert!(validate_batch(&good).is_ok());

    let mut bad_crc = good.clone();
    let last = bad_crc.len() - 1;
    bad_crc[last] ^= 1;
    assert!(matches!(validate_batch(&bad_crc), Err(RecordError::CrcMismatch { .. })));

    let mut bad_magic = good.clone();
    bad_magic[16] = 1;
    assert_eq!(validate_batch(&bad_magic), Err(RecordError::UnsupportedMagic(1)));

    assert!(matches!(validate_batch(&good[..good.len() - 1]), Err(RecordError::InvalidLength { .. })));
    let mut long = good.clone();
    long.push(0);
    assert!(matches!(validate_batch(&long), Err(RecordError::InvalidLength { .. })));
    assert!(matches!(validate_batch(&good[..30]), Err(RecordError::Truncated(_))));

    let mut huge_len = good.clone();
    huge_len[8..12].copy_from_slice(&i32::MAX.to_be_bytes());
    assert!(matches!(validate_batch(&huge_len), Err(RecordError::InvalidLength { .. })));
}

#[test]
fn rewriting_offset_and_epoch_keeps_crc_valid() {
    let mut bytes = sample_batch(Compression::Lz4);
    set_base_offset(&mut bytes, 5_000);
    set_partition_leader_epoch(&mut bytes, 9);
    let h = validate_batch(&bytes).unwrap();
    assert_eq!((h.base_offset, h.partition_leader_epoch), (5_000, 9));
}

#[test]
fn log_append_time_rewrites_timestamps() {
    let mut bytes = sample_batch(Compression::Gzip);
    set_log_append_time(&mut bytes, 42);
    let (h, records) = decode_records(&bytes, DecodeLimits::default()).unwrap();
    assert_eq!(h.timestamp_type(), TimestampType::LogAppendTime);
    assert!(records.iter().all(|r| r.timestamp == 42));
}

#[test]
fn batches_iterator_splits_and_stops_on_overrun() {
    let a = sample_batch(Compression::None);
    let b = sample_batch(Compression::Snappy);
    let mut buf = a.clone();
    buf.extend_from_slice(&b);
    let parts: Vec<_> = Batches::new(&buf).collect::<Result<_, _>>().unwrap();
    assert_eq!(parts, vec![&a[..], &b[..]]);
    let cut = &buf[..buf.len() - 3];
    let results: Vec<_> = Batches::new(cut).collect();
    assert_eq!(results.len(), 2);
    assert!(results[1].is_err());
}

#[test]
fn lying_record_count_is_refused_without_huge_allocation() {
    let mut bytes = sample_batch(Compression::None);
    bytes[57..61].copy_from_slice(&3i32.to_be_bytes());
    bytes[23..27].copy_from_slice(&i32::MAX.to_be_bytes());
    bytes[57..61].copy_from_slice(&(i32::MAX - 1).to_be_bytes());
    let crc = crc32c::crc32c(&bytes[21..]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
    assert!(decode_records(&bytes, DecodeLimits::default()).is_err());
}

fn arb_header() -> impl Strategy<Value = Header> {
    ("[a-z]{0,8}", proptest::option::of(proptest::collection::vec(any::<u8>(), 0..20)))
        .prop_map(|(key, value)| Header { key, value: value.map(Bytes::from) })
}

type ArbRecord = (i64, Option<Vec<u8>>, Option<Vec<u8>>, Vec<Header>);

fn arb_record() -> impl Strategy<Value = ArbRecord> {
    (
        -1_000_000i64..1_000_000,
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..50)),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..300)),
        proptest::collection::vec(arb_header(), 0..4),
    )
}

fn arb_compression() -> impl Strategy<Value = Compression> {
    (0i16..5).prop_map(|id| Compression::from_id(id).unwrap())
}

proptest! {
    #[test]
    fn any_batch_round_trips(
        compression in arb_compression(),
        base_offset in 0i64..1 << 40,
        records in proptest::collection::vec(arb_record(), 1..20),
    ) {
        let mut b = BatchBuilder::new(compression).base_offset(base_offset);
        for (ts, k, v, h) in &records {
            b.append(1_700_000_000_000 + ts, k.as_deref(), v.as_deref(), h);
        }
        let bytes = b.build().unwrap();
        let (h, decoded) = decode_records(&bytes, DecodeLimits::default()).unwrap();
        prop_assert_eq!(h.records_count as usize, records.len());
        for (i, ((ts, k, v, hs), r)) in records.iter().zip(&decoded).enumerate() {
            prop_assert_eq!(r.offset, base_offset + i as i64);
            prop_assert_eq!(r.timestamp, 1_700_000_000_000 + ts);
            prop_assert_eq!(r.key.as_deref(), k.as_deref());
            prop_assert_eq!(r.value.as_deref(), v.as_deref());
            prop_assert_eq!(&r.headers, hs);
        }
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode_records(&bytes, DecodeLimits::default());
        for batch in Batches::new(&bytes).flatten() {
            let _ = validate_batch(batch);
        }
    }

    #[test]
    fn corrupting_any_crc_covered_byte_is_detected(pos in 17usize..400, flip in 1u8..=255) {
        let mut bytes = sample_batch(Compression::Zstd);
        let pos = pos % (bytes.len() - 17) + 17;
        bytes[pos] ^= flip;
        prop_assert!(validate_batch(&bytes).is_err());
    }
}
