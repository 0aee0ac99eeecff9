//! Just enough protobuf to edit a model file's top-level `metadata_props` (ModelProto field 14,
//! repeated StringStringEntryProto {key = 1, value = 2}) for tests of contract handling.

fn read_varint(bytes: &[u8], at: &mut usize) -> u64 {
    let mut value = 0;
    let mut shift = 0;
    loop {
        let b = bytes[*at];
        *at += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return value;
        }
        shift += 7;
    }
}

fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// `model` without any `metadata_props` entry.
pub fn strip_metadata(model: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(model.len());
    let mut at = 0;
    while at < model.len() {
        let start = at;
        let tag = read_varint(model, &mut at);
        match tag & 7 {
            0 => {
                read_varint(model, &mut at);
            }
            1 => at += 8,
            2 => {
                let len = read_varint(model, &mut at) as usize;
                at += len;
            }
            5 => at += 4,
            wire => panic!("unexpected wire type {wire} in a ModelProto"),
        }
        if tag >> 3 != 14 {
            out.extend_from_slice(&model[start..at]);
        }
    }
    out
}

/// `model` with one more `metadata_props` entry `key = value`.
pub fn add_metadata(model: &[u8], key: &str, value: &str) -> Vec<u8> {
    let mut entry = Vec::new();
    for (field, text) in [(1u64, key), (2, value)] {
        write_varint(&mut entry, field << 3 | 2);
        write_varint(&mut entry, text.len() as u64);
        entry.extend_from_slice(text.as_bytes());
    }
    let mut out = model.to_vec();
    write_varint(&mut out, 14 << 3 | 2);
    write_varint(&mut out, entry.len() as u64);
    out.extend_from_slice(&entry);
    out
}
