//! Loading a kernel module from memory, and what the running kernel demands of a module's
//! signature.
//!
//! [`load`] hands module bytes to `finit_module(2)` through a memfd, so that the module kbtf
//! rewrote for this kernel is never written to disk. [`SigPolicy`] says whether the kernel
//! refuses modules without a valid signature (`module.sig_enforce`, lockdown), so that kbtf can
//! refuse first, with a message that says why and what to do.

use std::ffi::CStr;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Where the kernel shows whether it enforces module signatures (`Y` or `N`); absent when the
/// kernel has no `CONFIG_MODULE_SIG`, which checks no signatures at all.
pub const SIG_ENFORCE: &str = "/sys/module/module/parameters/sig_enforce";
/// Where the lockdown LSM shows its modes, the active one in brackets:
/// `none [integrity] confidentiality`. Needs securityfs mounted.
pub const LOCKDOWN: &str = "/sys/kernel/security/lockdown";

/// Loads the module `image` with parameters `params` (`name=value` words separated by
/// spaces, as insmod passes them): `finit_module(memfd, params, 0)`. The error is the
/// syscall's errno; the caller explains it.
pub fn load(image: &[u8], params: &CStr) -> io::Result<()> {
    // SAFETY: memfd_create reads the NUL-terminated name (a static C string literal) and
    // returns a new file descriptor, or -1 with errno set; it touches no other memory.
    let fd = unsafe { libc::memfd_create(c"kbtf-module".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by memfd_create and nothing else owns or closes it.
    let file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    (&file).write_all(image)?;
    match finit_module(&file, params) {
        // The kernel refuses a file that is open for writing (deny_write_access). Linux 6.1
        // takes no write access for a memfd's own descriptor (alloc_file_pseudo), so this is
        // for kernels that do: reopen the memfd read-only, close the writable descriptor and
        // try again.
        Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => {
            let ro = File::open(format!("/proc/self/fd/{}", file.as_raw_fd()))?;
            drop(file);
            finit_module(&ro, params)
        }
        r => r,
    }
}

/// `finit_module(file, params, 0)`.
fn finit_module(file: &File, params: &CStr) -> io::Result<()> {
    // SAFETY: finit_module(2) takes a file descriptor, a pointer to a NUL-terminated
    // parameter string and an int of flags. `file` stays open and `params` stays alive for
    // the whole call; the kernel copies the string (strndup_user) and reads the module from
    // offset 0 of the file, and keeps no pointer into our memory after it returns.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_finit_module,
            file.as_raw_fd(),
            params.as_ptr(),
            0 as libc::c_int,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// What the running kernel demands of a module's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigPolicy {
    /// `module.sig_enforce` (None: the kernel has no module signing, or it is unreadable).
    pub sig_enforce: Option<bool>,
    /// The active lockdown mode (`none`, `integrity`, `confidentiality`), if known.
    pub lockdown: Option<String>,
}

impl SigPolicy {
    /// Reads [`SIG_ENFORCE`] and [`LOCKDOWN`]; a file that cannot be read counts as unknown.
    pub fn read() -> SigPolicy {
        let read = |p: &str| std::fs::read_to_string(p).ok();
        SigPolicy::from_files(read(SIG_ENFORCE).as_deref(), read(LOCKDOWN).as_deref())
    }

    /// The policy shown by the contents of the two files (None: the file is absent).
    pub fn from_files(sig_enforce: Option<&str>, lockdown: Option<&str>) -> SigPolicy {
        let sig_enforce = sig_enforce.and_then(|s| match s.trim() {
            "Y" | "y" | "1" => Some(true),
            "N" | "n" | "0" => Some(false),
            _ => None,
        });
        let lockdown = lockdown.and_then(|s| {
            s.split_whitespace()
                .find_map(|w| w.strip_prefix('[').and_then(|w| w.strip_suffix(']')))
                .map(str::to_string)
        });
        SigPolicy {
            sig_enforce,
            lockdown,
        }
    }

    /// Why the kernel refuses a module that has no valid signature, if it does: with
    /// `sig_enforce` it fails with EKEYREJECTED, under lockdown (integrity or
    /// confidentiality) with EPERM.
    pub fn refuses_unsigned(&self) -> Option<String> {
        let mut why = Vec::new();
        if self.sig_enforce == Some(true) {
            why.push("module.sig_enforce=Y".to_string());
        }
        if let Some(mode) = self
            .lockdown
            .as_deref()
            .filter(|m| matches!(*m, "integrity" | "confidentiality"))
        {
            why.push(format!("lockdown={mode}"));
        }
        (!why.is_empty()).then(|| why.join(" and "))
    }

    /// One line for `--dry-run`.
    pub fn describe(&self) -> String {
        let enforce = match self.sig_enforce {
            Some(true) => "Y",
            Some(false) => "N",
            None => "unknown",
        };
        let lockdown = self.lockdown.as_deref().unwrap_or("unknown");
        format!("sig_enforce={enforce}, lockdown={lockdown}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refuses(sig_enforce: Option<&str>, lockdown: Option<&str>) -> Option<String> {
        SigPolicy::from_files(sig_enforce, lockdown).refuses_unsigned()
    }

    #[test]
    fn enforcement_decision() {
        // Debian's default: signing built in, not enforced, lockdown LSM without a mode.
        assert_eq!(
            refuses(Some("N\n"), Some("[none] integrity confidentiality\n")),
            None
        );
        // No CONFIG_MODULE_SIG, no securityfs: nothing is checked that we can see.
        assert_eq!(refuses(None, None), None);
        assert_eq!(
            refuses(Some("Y\n"), Some("[none] integrity confidentiality\n")).as_deref(),
            Some("module.sig_enforce=Y")
        );
        assert_eq!(
            refuses(Some("N\n"), Some("none [integrity] confidentiality\n")).as_deref(),
            Some("lockdown=integrity")
        );
        assert_eq!(
            refuses(Some("Y\n"), Some("none integrity [confidentiality]\n")).as_deref(),
            Some("module.sig_enforce=Y and lockdown=confidentiality")
        );
        // A lockdown file without a bracketed mode, or garbage, enforces nothing.
        assert_eq!(refuses(Some("?"), Some("none integrity")), None);
    }

    #[test]
    fn describes_policy() {
        let p = SigPolicy::from_files(Some("Y\n"), None);
        assert_eq!(p.describe(), "sig_enforce=Y, lockdown=unknown");
        let p = SigPolicy::from_files(Some("N\n"), Some("[none] integrity\n"));
        assert_eq!(p.describe(), "sig_enforce=N, lockdown=none");
    }
}
