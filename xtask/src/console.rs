//! Parsing the guest's serial console output (markers written by the test /init).

use std::collections::HashMap;

#[derive(Debug, Clone, Copy)]
pub struct Result {
    pub present: bool,
    pub size: u64,
}

#[derive(Debug, Default)]
pub struct Parsed {
    pub booted: bool,
    pub done: bool,
    pub insmod_rc: HashMap<String, i32>,
    pub insmod_out: HashMap<String, Vec<String>>,
    /// Output of the `--exec` command.
    pub exec_out: Vec<String>,
    pub results: HashMap<String, Result>,
    pub btf: HashMap<String, Vec<u8>>,
    /// dmesg lines, timestamps removed.
    pub dmesg: Vec<String>,
}

pub fn parse(text: &str) -> Parsed {
    let mut p = Parsed::default();
    let mut in_btf: Option<(String, String)> = None;
    let mut in_dmesg = false;
    for line in text.lines() {
        // Kernel messages can share a line with ours; find our marker anywhere.
        let line = match line.find("KBTF-") {
            Some(i) if in_btf.is_none() && !in_dmesg => &line[i..],
            _ => line,
        };
        if let Some((name, b64)) = &mut in_btf {
            if line.trim() == format!("KBTF-BTF-END {name}") {
                if let Some(bytes) = base64_decode(b64) {
                    p.btf.insert(name.clone(), bytes);
                }
                in_btf = None;
            } else {
                b64.push_str(line.trim());
            }
            continue;
        }
        if in_dmesg {
            if line.trim() == "KBTF-DMESG-END" {
                in_dmesg = false;
            } else {
                p.dmesg.push(strip_timestamp(line).to_string());
            }
            continue;
        }
        let mut w = line.split_whitespace();
        match w.next() {
            Some(m) if m.starts_with("KBTF-BOOTED") => p.booted = true,
            Some("KBTF-DONE") => p.done = true,
            Some("KBTF-DMESG-BEGIN") => in_dmesg = true,
            Some("KBTF-BTF-BEGIN") => {
                if let Some(n) = w.next() {
                    in_btf = Some((n.to_string(), String::new()));
                }
            }
            Some("KBTF-INSMOD-RC") => {
                if let (Some(n), Some(rc)) = (w.next(), w.next().and_then(|r| r.parse().ok())) {
                    p.insmod_rc.insert(n.to_string(), rc);
                }
            }
            Some("KBTF-INSMOD-OUT") => {
                if let Some(n) = w.next() {
                    let rest: Vec<&str> = w.collect();
                    p.insmod_out
                        .entry(n.to_string())
                        .or_default()
                        .push(rest.join(" "));
                }
            }
            Some("KBTF-EXEC-OUT") => p.exec_out.push(w.collect::<Vec<_>>().join(" ")),
            Some("KBTF-RESULT") => {
                let Some(n) = w.next() else { continue };
                let mut r = Result {
                    present: false,
                    size: 0,
                };
                for kv in w {
                    match kv.split_once('=') {
                        Some(("present", v)) => r.present = v == "1",
                        Some(("size", v)) => r.size = v.parse().unwrap_or(0),
                        _ => {}
                    }
                }
                p.results.insert(n.to_string(), r);
            }
            _ => {}
        }
    }
    p
}

/// "[    1.234567] text" -> "text".
fn strip_timestamp(line: &str) -> &str {
    let t = line.trim_start();
    if t.starts_with('[') {
        if let Some(i) = t.find("] ") {
            return &t[i + 2..];
        }
    }
    t
}

impl Parsed {
    /// The exit code of the load command for module `name`, if it ran.
    pub fn rc(&self, name: &str) -> Option<i32> {
        self.insmod_rc.get(name).copied()
    }

    /// What the load command for module `name` printed, its lines joined by ` | `.
    pub fn out(&self, name: &str) -> String {
        self.insmod_out
            .get(name)
            .map(|o| o.join(" | "))
            .unwrap_or_default()
    }

    /// Kernel messages logged while module `name` was being inserted, minus taint noise.
    pub fn kmsg_for(&self, name: &str) -> Vec<String> {
        let start = format!("KBTF-INSMOD {name}");
        let mut out = Vec::new();
        let mut on = false;
        for l in &self.dmesg {
            if l.starts_with("KBTF-") {
                on = *l == start;
                continue;
            }
            if on && !l.contains("taints kernel") && !l.contains("tainting kernel") {
                out.push(l.clone());
            }
        }
        out
    }
}

pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            b' ' | b'\t' | b'\n' => continue,
            _ => return None,
        };
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_roundtrip_known() {
        assert_eq!(base64_decode("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(base64_decode("n+s=").unwrap(), [0x9f, 0xeb]);
        assert!(base64_decode("a*b").is_none());
    }

    #[test]
    fn parses_markers() {
        let t =
            "junk\nKBTF-BOOTED 6.1\nKBTF-INSMOD-RC dummy 0\nKBTF-RESULT dummy present=1 size=2\n\
                 KBTF-BTF-BEGIN dummy\nn+s=\nKBTF-BTF-END dummy\nKBTF-DMESG-BEGIN\n\
                 [    1.0] KBTF-INSMOD dummy\n[    1.1] BPF: bad\nKBTF-DMESG-END\nKBTF-DONE\n";
        let p = parse(t);
        assert!(p.booted && p.done);
        assert_eq!(p.insmod_rc["dummy"], 0);
        assert_eq!(p.btf["dummy"], [0x9f, 0xeb]);
        assert_eq!(p.kmsg_for("dummy"), ["BPF: bad"]);
    }
}
