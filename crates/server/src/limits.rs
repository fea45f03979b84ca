//! Process limits.

use rustix::process::{getrlimit, setrlimit, Resource};

/// Raises the soft open-file limit to the hard one, so the server can hold as many
/// connections as the machine allows.
pub(crate) fn raise_fd_limit() {
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        if let Err(err) = setrlimit(Resource::Nofile, limit) {
            tracing::warn!(%err, "could not raise the open-file limit");
        }
    }
}
