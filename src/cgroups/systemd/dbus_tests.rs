//! Marshalling against bytes worked out by hand from the D-Bus specification (offsets in the
//! comments), and parsing of the replies and signals systemd sends.

use super::*;

fn le32(n: u32) -> [u8; 4] {
    n.to_le_bytes()
}

/// `s`/`o` at an offset already 4-aligned: length, bytes, NUL.
fn s(out: &mut Vec<u8>, v: &str) {
    out.extend_from_slice(&le32(v.len() as u32));
    out.extend_from_slice(v.as_bytes());
    out.push(0);
}

fn pad(out: &mut Vec<u8>, n: usize) {
    while !out.len().is_multiple_of(n) {
        out.push(0);
    }
}

#[test]
fn reset_failed_unit_call_bytes() {
    let mut body = Writer::default();
    body.str("a.scope");
    let got = method_call(1, MANAGER, "ResetFailedUnit", "s", &body.buf);

    let mut want = vec![b'l', 1, 0, 1];
    want.extend_from_slice(&le32(12)); // body: 4 (length) + 7 + NUL
    want.extend_from_slice(&le32(1)); // serial
    want.extend_from_slice(&le32(159)); // header fields: bytes 16..175
    // 16: PATH, signature "o"
    want.extend_from_slice(&[1, 1, b'o', 0]);
    s(&mut want, "/org/freedesktop/systemd1"); // 20..50
    pad(&mut want, 8); // 56: INTERFACE
    want.extend_from_slice(&[2, 1, b's', 0]);
    s(&mut want, "org.freedesktop.systemd1.Manager"); // 60..97
    pad(&mut want, 8); // 104: MEMBER
    want.extend_from_slice(&[3, 1, b's', 0]);
    s(&mut want, "ResetFailedUnit"); // 108..128
    want.extend_from_slice(&[6, 1, b's', 0]); // 128: DESTINATION
    s(&mut want, "org.freedesktop.systemd1"); // 132..161
    pad(&mut want, 8); // 168: SIGNATURE "s"
    want.extend_from_slice(&[8, 1, b'g', 0, 1, b's', 0]); // ..175
    assert_eq!(want.len(), 175);
    pad(&mut want, 8); // body at 176
    s(&mut want, "a.scope");
    assert_eq!(got, want);
}

#[test]
fn property_array_alignment_bytes() {
    let mut w = Writer::default();
    w.props(&[("PIDs".into(), Value::U32s(vec![5])), ("MemoryMax".into(), Value::U64(1024))]);
    let mut want = Vec::new();
    want.extend_from_slice(&le32(56)); // array length: bytes 8..64
    want.extend_from_slice(&[0; 4]); // structs are 8-aligned; padding not counted
    s(&mut want, "PIDs"); // 8..17
    want.extend_from_slice(&[2, b'a', b'u', 0]); // variant signature 17..21
    want.extend_from_slice(&[0; 3]); // 24: au
    want.extend_from_slice(&le32(4));
    want.extend_from_slice(&le32(5)); // ..32
    s(&mut want, "MemoryMax"); // 32..46
    want.extend_from_slice(&[1, b't', 0]); // ..49
    want.extend_from_slice(&[0; 7]); // 56: t
    want.extend_from_slice(&1024u64.to_le_bytes());
    assert_eq!(w.buf, want);
}

#[test]
fn strings_bytes_and_bools_in_variants() {
    let mut w = Writer::default();
    w.props(&[
        ("Wants".into(), Value::Strs(vec!["a.slice".into()])),
        ("AllowedCPUs".into(), Value::Bytes(vec![0x05])),
        ("Delegate".into(), Value::Bool(true)),
    ]);
    let mut want = Vec::new();
    want.extend_from_slice(&le32(0)); // patched below
    want.extend_from_slice(&[0; 4]);
    s(&mut want, "Wants"); // 8..18
    want.extend_from_slice(&[2, b'a', b's', 0]); // ..22
    want.extend_from_slice(&[0; 2]); // 24: as
    want.extend_from_slice(&le32(12)); // one string: 4 + 7 + NUL
    s(&mut want, "a.slice"); // 28..40
    s(&mut want, "AllowedCPUs"); // 40..56
    want.extend_from_slice(&[2, b'a', b'y', 0]); // ..60
    want.extend_from_slice(&le32(1)); // 60: ay, elements 1-aligned
    want.push(0x05); // ..65
    pad(&mut want, 8); // 72
    s(&mut want, "Delegate"); // 72..85
    want.extend_from_slice(&[1, b'b', 0]); // ..88
    want.extend_from_slice(&le32(1)); // ..92
    let len = (want.len() - 8) as u32;
    want[..4].copy_from_slice(&le32(len));
    assert_eq!(w.buf, want);
}

/// A message as systemd would send it (little-endian), from header fields and a body.
fn message(kind: u8, fields: &[(u8, &str, &str)], sig: &str, body: &[u8]) -> Vec<u8> {
    let mut f = Writer::default();
    for (code, t, v) in fields {
        f.pad(8);
        f.buf.push(*code);
        f.sig(t);
        if *t == "u" { f.u32(v.parse().unwrap()) } else { f.str(v) }
    }
    f.pad(8);
    f.buf.push(8);
    f.sig("g");
    f.sig(sig);
    let mut m = vec![b'l', kind, 1, 1];
    m.extend_from_slice(&le32(body.len() as u32));
    m.extend_from_slice(&le32(99));
    m.extend_from_slice(&le32(f.buf.len() as u32));
    m.extend_from_slice(&f.buf);
    pad(&mut m, 8);
    m.extend_from_slice(body);
    m
}

#[test]
fn parses_job_removed_signal() {
    let mut b = Writer::default();
    b.u32(7);
    b.str("/org/freedesktop/systemd1/job/7");
    b.str("bulkhead-x.scope");
    b.str("done");
    let m = message(SIGNAL, &[(1, "o", "/org/freedesktop/systemd1"), (3, "s", "JobRemoved")], "uoss", &b.buf);
    let head: [u8; 16] = m[..16].try_into().unwrap();
    assert_eq!(message_len(&head).unwrap(), m.len());
    let p = parse_message(&m).unwrap();
    assert_eq!(p.kind, SIGNAL);
    assert_eq!(p.member, "JobRemoved");
    assert_eq!(
        p.args,
        vec![
            Value::U32(7),
            Value::Str("/org/freedesktop/systemd1/job/7".into()),
            Value::Str("bulkhead-x.scope".into()),
            Value::Str("done".into())
        ]
    );
}

#[test]
fn parses_error_reply_and_variant_return() {
    let mut b = Writer::default();
    b.str("Unit x.scope already exists.");
    let m = message(ERROR, &[(4, "s", "org.freedesktop.systemd1.UnitExists"), (5, "u", "3")], "s", &b.buf);
    let p = parse_message(&m).unwrap();
    assert_eq!((p.kind, p.reply_serial, p.error_name.as_str()), (ERROR, Some(3), "org.freedesktop.systemd1.UnitExists"));
    assert_eq!(p.args, vec![Value::Str("Unit x.scope already exists.".into())]);

    let mut b = Writer::default();
    b.sig("s");
    b.str("/user.slice/user-1000.slice/user@1000.service");
    let m = message(METHOD_RETURN, &[(5, "u", "4")], "v", &b.buf);
    let p = parse_message(&m).unwrap();
    assert_eq!(p.reply_serial, Some(4));
    assert_eq!(p.args, vec![Value::Str("/user.slice/user-1000.slice/user@1000.service".into())]);
}

#[test]
fn truncated_message_is_an_error() {
    let mut b = Writer::default();
    b.str("done");
    let m = message(SIGNAL, &[(3, "s", "JobRemoved")], "s", &b.buf);
    assert!(parse_message(&m[..20]).is_err());
}
