use std::io;

/// Raises the soft open-files limit to the hard limit, so one process can
/// hold as many connections as the administrator allows (`select()`
/// stops at 1024). Returns the new soft limit.
pub fn raise_fd_limit() -> io::Result<u64> {
    rlimit::increase_nofile_limit(u64::MAX)
}
