//! The memory this process may use: the machine's (`MemTotal`), or less
//! under a cgroup memory limit (a container, a systemd slice), where
//! `MemTotal` is still the host's and a tile that fits it can exceed the
//! limit and get the process killed.
//!
//! Parsed from the files' contents (`read`), so every case is tested on
//! sample texts whatever the machine running the tests.

use std::path::{Path, PathBuf};

/// Where cgroup v2 is mounted on a unified system (and in containers),
/// and where cgroup v1's memory controller is. On a hybrid system cgroup v2
/// is at `/sys/fs/cgroup/unified`, without the memory controller, which
/// stays on v1: the v1 path finds its limit.
const V2_ROOT: &str = "/sys/fs/cgroup";
const V1_MEMORY_ROOT: &str = "/sys/fs/cgroup/memory";

/// The smaller of `MemTotal` and every memory limit of the cgroups that
/// contain this process, in bytes, from the files `read` returns (`None`
/// for one that cannot be read); `None` if `MemTotal` cannot be read.
///
/// A limit that cannot be read or parsed is no limit. "No limit" is `max`
/// in v2 and `i64::MAX` rounded down to a page (9223372036854771712) in
/// v1: the first does not parse, the second is above any `MemTotal`, so
/// neither lowers the minimum.
pub(super) fn memory_limit(read: impl Fn(&Path) -> Option<String>) -> Option<u64> {
    let total = mem_total(&read(Path::new("/proc/meminfo"))?)?;
    let cgroups = read(Path::new("/proc/self/cgroup")).unwrap_or_default();
    Some(
        limit_files(&cgroups)
            .filter_map(|file| read(&file)?.trim().parse::<u64>().ok())
            .fold(total, u64::min),
    )
}

/// `MemTotal` of `/proc/meminfo`, in bytes.
fn mem_total(meminfo: &str) -> Option<u64> {
    let kib = meminfo
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse::<u64>()
        .ok()?;
    kib.checked_mul(1024)
}

/// The limit files that apply to this process, from `/proc/self/cgroup`:
/// those of its cgroups (v2 line `0::/path`; v1 line `id:memory:/path`,
/// possibly with other controllers) and of all their ancestors, since a
/// parent's limit bounds its children. Walking up also finds a container's
/// limit when its `/proc/self/cgroup` shows the host's path for a cgroup
/// mounted as the container's `/sys/fs/cgroup` root.
fn limit_files(cgroups: &str) -> impl Iterator<Item = PathBuf> + '_ {
    cgroups
        .lines()
        .flat_map(|line| {
            let mut fields = line.splitn(3, ':');
            let (id, controllers, path) = (fields.next()?, fields.next()?, fields.next()?);
            // An absolute path, as the kernel writes; anything else is ignored.
            let relative = path.strip_prefix('/')?;
            let (root, file) = if id == "0" && controllers.is_empty() {
                (V2_ROOT, "memory.max")
            } else if controllers.split(',').any(|c| c == "memory") {
                (V1_MEMORY_ROOT, "memory.limit_in_bytes")
            } else {
                return None;
            };
            let dirs = Path::new(relative).ancestors();
            Some(dirs.map(move |dir| Path::new(root).join(dir).join(file)))
        })
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const GIB: u64 = 1 << 30;
    const MEMINFO: &str = "MemTotal:       25165824 kB\nMemFree:        16777216 kB\n";
    const V1_UNLIMITED: &str = "9223372036854771712\n";

    /// `memory_limit` on a machine whose files are `files` (path, contents).
    fn limit(files: &[(&str, &str)]) -> Option<u64> {
        let files: HashMap<PathBuf, String> = files
            .iter()
            .map(|(path, text)| (PathBuf::from(path), text.to_string()))
            .collect();
        memory_limit(|path| files.get(path).cloned())
    }

    #[test]
    fn without_a_limit_it_is_mem_total() {
        assert_eq!(limit(&[("/proc/meminfo", MEMINFO)]), Some(24 * GIB));
        assert_eq!(limit(&[]), None, "no /proc/meminfo: not Linux");
        assert_eq!(limit(&[("/proc/meminfo", "MemFree: 1 kB\n")]), None);
        let v2_root = [("/proc/meminfo", MEMINFO), ("/proc/self/cgroup", "0::/\n")];
        assert_eq!(
            limit(&v2_root),
            Some(24 * GIB),
            "the v2 root has no memory.max"
        );
    }

    #[test]
    fn v1_limits_of_the_cgroup_and_its_ancestors_apply() {
        // This build machine's layout: the memory controller on v1, cgroup
        // v2 mounted without it, and a `name=systemd` hierarchy.
        let cgroup = "9:name=systemd:/\n4:memory:/process_api/23a7\n3:cpuset:/\n0::/\n";
        let base = [("/proc/meminfo", MEMINFO), ("/proc/self/cgroup", cgroup)];
        let leaf = "/sys/fs/cgroup/memory/process_api/23a7/memory.limit_in_bytes";
        let parent = "/sys/fs/cgroup/memory/process_api/memory.limit_in_bytes";
        let root = "/sys/fs/cgroup/memory/memory.limit_in_bytes";
        let unlimited = [
            base.as_slice(),
            &[
                (leaf, V1_UNLIMITED),
                (parent, V1_UNLIMITED),
                (root, V1_UNLIMITED),
            ],
        ]
        .concat();
        assert_eq!(limit(&unlimited), Some(24 * GIB));
        let at_leaf = [
            base.as_slice(),
            &[(leaf, "3221225472\n"), (parent, V1_UNLIMITED)],
        ]
        .concat();
        assert_eq!(limit(&at_leaf), Some(3 * GIB));
        let at_parent = [
            base.as_slice(),
            &[(leaf, V1_UNLIMITED), (parent, "2147483648")],
        ]
        .concat();
        assert_eq!(limit(&at_parent), Some(2 * GIB));
        // The memory controller can share a hierarchy with others.
        let shared = [
            ("/proc/meminfo", MEMINFO),
            ("/proc/self/cgroup", "5:cpu,memory:/a\n"),
            (
                "/sys/fs/cgroup/memory/a/memory.limit_in_bytes",
                "1073741824",
            ),
        ];
        assert_eq!(limit(&shared), Some(GIB));
    }

    #[test]
    fn v2_takes_the_smallest_limit_on_the_way_to_the_root() {
        let cgroup = "0::/user.slice/user-1000.slice/session-1.scope\n";
        let base = [("/proc/meminfo", MEMINFO), ("/proc/self/cgroup", cgroup)];
        let files = [
            (
                "/sys/fs/cgroup/user.slice/user-1000.slice/session-1.scope/memory.max",
                "max\n",
            ),
            (
                "/sys/fs/cgroup/user.slice/user-1000.slice/memory.max",
                "8589934592\n",
            ),
            ("/sys/fs/cgroup/user.slice/memory.max", "17179869184\n"),
        ];
        assert_eq!(limit(&[base.as_slice(), &files].concat()), Some(8 * GIB));
        // A limit above the machine's memory does not raise it.
        let above = [("/sys/fs/cgroup/user.slice/memory.max", "103079215104\n")];
        assert_eq!(limit(&[base.as_slice(), &above].concat()), Some(24 * GIB));
        let all_max = [("/sys/fs/cgroup/user.slice/memory.max", "max\n")];
        assert_eq!(limit(&[base.as_slice(), &all_max].concat()), Some(24 * GIB));
    }

    #[test]
    fn missing_or_unreadable_files_are_no_limit() {
        // A container without a cgroup namespace: /proc/self/cgroup names
        // the host's path, absent here, and its own cgroup is the mount's
        // root.
        let container = [
            ("/proc/meminfo", MEMINFO),
            ("/proc/self/cgroup", "4:memory:/docker/0123abcd\n"),
            ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "536870912\n"),
        ];
        assert_eq!(limit(&container), Some(GIB / 2));
        let garbled = [
            ("/proc/meminfo", MEMINFO),
            ("/proc/self/cgroup", "garbage\n0::relative\n0::/a\n"),
            ("/sys/fs/cgroup/a/memory.max", "lots\n"),
            ("/sys/fs/cgroup/relative/memory.max", "1"),
        ];
        assert_eq!(limit(&garbled), Some(24 * GIB));
        assert_eq!(
            limit(&[("/proc/meminfo", MEMINFO), ("/proc/self/cgroup", "0::/a\n")]),
            Some(24 * GIB)
        );
    }
}
