//! A tiny ELF64 reader (either byte order: s390x is big-endian): section table, section
//! bytes, symbols, PT_INTERP.
//! Reads only the parts it needs, so a 600 MB debug vmlinux is cheap.

use anyhow::{bail, ensure, Context, Result};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct Section {
    pub name: String,
    pub sh_type: u32,
    pub sh_flags: u64,
    pub addr: u64,
    pub offset: u64,
    pub size: u64,
}

pub struct Elf {
    path: PathBuf,
    file: File,
    pub sections: Vec<Section>,
    phoff: u64,
    phentsize: u16,
    phnum: u16,
    /// `ELFDATA2MSB`.
    big: bool,
}

const SHT_NOBITS: u32 = 8;
const PT_INTERP: u32 = 3;

fn u16at(b: &[u8], o: usize, big: bool) -> u16 {
    let a = [b[o], b[o + 1]];
    if big {
        u16::from_be_bytes(a)
    } else {
        u16::from_le_bytes(a)
    }
}
/// The `u32` at `o` in `b`, big-endian if `big` (ELF and BTF words alike).
pub fn u32at(b: &[u8], o: usize, big: bool) -> u32 {
    let a = [b[o], b[o + 1], b[o + 2], b[o + 3]];
    if big {
        u32::from_be_bytes(a)
    } else {
        u32::from_le_bytes(a)
    }
}
fn u64at(b: &[u8], o: usize, big: bool) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[o..o + 8]);
    if big {
        u64::from_be_bytes(a)
    } else {
        u64::from_le_bytes(a)
    }
}

impl Elf {
    pub fn open(path: &Path) -> Result<Elf> {
        Self::open_inner(path).with_context(|| format!("reading ELF {}", path.display()))
    }

    fn open_inner(path: &Path) -> Result<Elf> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        let mut eh = [0u8; 64];
        ensure!(len >= 64, "file too short for an ELF header ({len} bytes)");
        file.read_exact_at(&mut eh, 0)?;
        ensure!(&eh[..4] == b"\x7fELF", "no ELF magic");
        ensure!(
            eh[4] == 2 && (eh[5] == 1 || eh[5] == 2),
            "only ELF64 is supported"
        );
        let big = eh[5] == 2;
        let rd16 = |b: &[u8], o| u16at(b, o, big);
        let rd32 = |b: &[u8], o| u32at(b, o, big);
        let rd64 = |b: &[u8], o| u64at(b, o, big);
        let phoff = rd64(&eh, 0x20);
        let shoff = rd64(&eh, 0x28);
        let phentsize = rd16(&eh, 0x36);
        let phnum = rd16(&eh, 0x38);
        let shentsize = rd16(&eh, 0x3a) as u64;
        let mut shnum = rd16(&eh, 0x3c) as u64;
        let mut shstrndx = rd16(&eh, 0x3e) as u64;
        let mut sections = Vec::new();
        if shoff != 0 {
            ensure!(shentsize >= 64, "bad e_shentsize {shentsize}");
            let mut first = [0u8; 64];
            ensure!(
                shoff.checked_add(64).is_some_and(|e| e <= len),
                "section table out of file"
            );
            file.read_exact_at(&mut first, shoff)?;
            if shnum == 0 {
                shnum = rd64(&first, 0x20); // extended numbering: sh_size of section 0
            }
            if shstrndx == 0xffff {
                shstrndx = rd32(&first, 0x28) as u64; // sh_link of section 0
            }
            let table_len = shnum
                .checked_mul(shentsize)
                .context("section table size overflow")?;
            ensure!(
                shoff.checked_add(table_len).is_some_and(|e| e <= len),
                "section table ({shnum} entries) runs past end of file"
            );
            let mut tab = vec![0u8; table_len as usize];
            file.read_exact_at(&mut tab, shoff)?;
            let mut raw = Vec::new();
            for i in 0..shnum as usize {
                let s = &tab[i * shentsize as usize..];
                raw.push((
                    rd32(s, 0),
                    rd32(s, 4),
                    rd64(s, 8),
                    rd64(s, 0x18),
                    rd64(s, 0x20),
                    rd64(s, 0x10),
                ));
            }
            ensure!(
                (shstrndx as usize) < raw.len(),
                "e_shstrndx {shstrndx} out of range"
            );
            let (_, st_type, _, st_off, st_size, _) = raw[shstrndx as usize];
            ensure!(st_type != SHT_NOBITS, "section name table has no data");
            ensure!(
                st_off.checked_add(st_size).is_some_and(|e| e <= len),
                "section name table out of file"
            );
            let mut strtab = vec![0u8; st_size as usize];
            file.read_exact_at(&mut strtab, st_off)?;
            for (name_off, sh_type, sh_flags, offset, size, addr) in raw {
                let name = strtab
                    .get(name_off as usize..)
                    .map(|s| {
                        let end = s.iter().position(|&c| c == 0).unwrap_or(s.len());
                        String::from_utf8_lossy(&s[..end]).into_owned()
                    })
                    .unwrap_or_default();
                sections.push(Section {
                    name,
                    sh_type,
                    sh_flags,
                    addr,
                    offset,
                    size,
                });
            }
        }
        Ok(Elf {
            path: path.to_path_buf(),
            file,
            sections,
            phoff,
            phentsize,
            phnum,
            big,
        })
    }

    pub fn section(&self, name: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// Bytes of section `name`; error if absent.
    pub fn section_bytes(&self, name: &str) -> Result<Vec<u8>> {
        let Some(s) = self.section(name) else {
            bail!("{}: no {name} section", self.path.display());
        };
        ensure!(
            s.sh_type != SHT_NOBITS,
            "{}: {name} is NOBITS",
            self.path.display()
        );
        let len = self.file.metadata()?.len();
        ensure!(
            s.offset.checked_add(s.size).is_some_and(|e| e <= len),
            "{}: {name} runs past end of file",
            self.path.display()
        );
        let mut buf = vec![0u8; s.size as usize];
        self.file
            .read_exact_at(&mut buf, s.offset)
            .with_context(|| format!("{}: reading {name}", self.path.display()))?;
        Ok(buf)
    }

    /// The value of the `.symtab` symbol `name`, if there is one.
    pub fn symbol_value(&self, name: &str) -> Result<Option<u64>> {
        let symtab = self.section_bytes(".symtab")?;
        let strtab = self.section_bytes(".strtab")?;
        for sym in symtab.chunks_exact(24) {
            let off = u32at(sym, 0, self.big) as usize;
            let Some(rest) = strtab.get(off..) else {
                continue;
            };
            let end = rest.iter().position(|&c| c == 0).unwrap_or(rest.len());
            if &rest[..end] == name.as_bytes() {
                return Ok(Some(u64at(sym, 8, self.big)));
            }
        }
        Ok(None)
    }

    /// `len` bytes at virtual address `addr`, from the section that holds them.
    pub fn read_at_addr(&self, addr: u64, len: u64) -> Result<Vec<u8>> {
        let s = self
            .sections
            .iter()
            .find(|s| s.sh_type != SHT_NOBITS && s.addr <= addr && addr - s.addr < s.size)
            .with_context(|| {
                format!(
                    "{}: no section holds address {addr:#x}",
                    self.path.display()
                )
            })?;
        ensure!(
            addr - s.addr + len <= s.size,
            "{}: {len} bytes at {addr:#x} run past {}",
            self.path.display(),
            s.name
        );
        let mut buf = vec![0u8; len as usize];
        self.file
            .read_exact_at(&mut buf, s.offset + (addr - s.addr))
            .with_context(|| format!("{}: reading at {addr:#x}", self.path.display()))?;
        Ok(buf)
    }

    /// True if the file has a PT_INTERP program header (i.e. is dynamically linked).
    pub fn has_interp(&self) -> Result<bool> {
        if self.phoff == 0 || self.phnum == 0 {
            return Ok(false);
        }
        ensure!(self.phentsize >= 56, "bad e_phentsize");
        let mut tab = vec![0u8; self.phnum as usize * self.phentsize as usize];
        self.file
            .read_exact_at(&mut tab, self.phoff)
            .with_context(|| format!("{}: reading program headers", self.path.display()))?;
        Ok((0..self.phnum as usize)
            .any(|i| u32at(&tab, i * self.phentsize as usize, self.big) == PT_INTERP))
    }
}

/// `name=` from a module's `.modinfo` (the name under /sys/module and /sys/kernel/btf).
pub fn module_name(path: &Path) -> Result<Option<String>> {
    let elf = Elf::open(path)?;
    if elf.section(".modinfo").is_none() {
        return Ok(None);
    }
    let info = elf.section_bytes(".modinfo")?;
    for field in info.split(|&c| c == 0) {
        if let Some(v) = field.strip_prefix(b"name=") {
            return Ok(Some(String::from_utf8_lossy(v).into_owned()));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(rel: &str) -> PathBuf {
        crate::fixtures::repo_root().join("testdata").join(rel)
    }

    #[test]
    fn reads_module_name_and_btf() {
        let ko = fixture("modules-6.1/dummy.ko");
        assert_eq!(module_name(&ko).unwrap().as_deref(), Some("dummy"));
        let btf = Elf::open(&ko).unwrap().section_bytes(".BTF").unwrap();
        assert_eq!(
            btf,
            std::fs::read(fixture("modules-6.1/dummy.btf")).unwrap()
        );
        assert!(!Elf::open(&ko).unwrap().has_interp().unwrap());
    }

    #[test]
    fn truncated_elf_is_an_error_not_a_panic() {
        let data = std::fs::read(fixture("modules-6.1/dummy.ko")).unwrap();
        let tmp = std::env::temp_dir().join(format!("kbtf-elf-test-{}.ko", std::process::id()));
        for n in (0..data.len()).step_by(61).chain([0, 63, 64, 65]) {
            std::fs::write(&tmp, &data[..n]).unwrap();
            if let Ok(e) = Elf::open(&tmp) {
                let _ = e.section_bytes(".BTF");
                let _ = e.has_interp();
            }
        }
        let _ = std::fs::remove_file(&tmp);
        assert!(Elf::open(&fixture("PROVENANCE")).is_err());
    }
}
