//! Which end of the connection this is.

/// The endpoint's role, which fixes the masking rules (RFC 6455 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Accepts connections; sends unmasked frames and requires masked ones.
    Server,
    /// Opens connections; masks every frame it sends and rejects masked ones.
    Client,
}

impl Role {
    /// The other end's role.
    pub fn peer(self) -> Role {
        match self {
            Role::Server => Role::Client,
            Role::Client => Role::Server,
        }
    }
}
