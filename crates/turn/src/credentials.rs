//! Long-term credentials (RFC 8489 §9.2): static users and the TURN REST shared secret
//! (draft-uberti-behave-turn-rest: username `expiry-unix-seconds:user`, password
//! `base64(HMAC-SHA1(secret, username))`).

use std::collections::HashMap;
use std::fmt;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use md5::{Digest as _, Md5};
use sha1::Sha1;
use sha2::Sha256;

/// The long-term key: `MD5(username ":" realm ":" password)`. Its `Debug` output is redacted.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct LongTermKey([u8; 16]);

impl LongTermKey {
    /// Derives the key. The password is used as given (no SASLprep).
    #[must_use]
    pub fn derive(username: &str, realm: &str, password: &str) -> Self {
        let mut h = Md5::new();
        h.update(username.as_bytes());
        h.update(b":");
        h.update(realm.as_bytes());
        h.update(b":");
        h.update(password.as_bytes());
        Self(h.finalize().into())
    }

    /// Wraps a precomputed key (as stored by coturn's `turnadmin -k`).
    #[must_use]
    pub const fn from_bytes(key: [u8; 16]) -> Self {
        Self(key)
    }

    /// The key bytes, used as the HMAC key of MESSAGE-INTEGRITY(-SHA256).
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Debug for LongTermKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LongTermKey(..)")
    }
}

/// USERHASH: `SHA-256(username ":" realm)` (RFC 8489 §14.4).
#[must_use]
pub fn userhash(username: &str, realm: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(username.as_bytes());
    h.update(b":");
    h.update(realm.as_bytes());
    h.finalize().into()
}

/// The TURN REST password for `username`: `base64(HMAC-SHA1(secret, username))`.
#[must_use]
pub fn rest_password(secret: &[u8], username: &str) -> String {
    let mac = <Hmac<Sha1> as Mac>::new_from_slice(secret).map(|mut m| {
        m.update(username.as_bytes());
        m.finalize().into_bytes()
    });
    match mac {
        Ok(mac) => base64::engine::general_purpose::STANDARD.encode(mac),
        // HMAC accepts keys of any length; this arm is unreachable in practice.
        Err(_) => String::new(),
    }
}

/// Issues TURN REST credentials for `user` valid until `expiry_unix` (seconds since the Unix
/// epoch): returns `(username, password)`.
#[must_use]
pub fn rest_credentials(secret: &[u8], user: &str, expiry_unix: u64) -> (String, String) {
    let username = format!("{expiry_unix}:{user}");
    let password = rest_password(secret, &username);
    (username, password)
}

/// Why no key could be found for a username. All map to 401 Unauthenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialError {
    /// No static user of that name, and it is not a REST username (or no secret is set).
    UnknownUser,
    /// A REST username whose expiry time has passed.
    Expired,
}

impl fmt::Display for CredentialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::UnknownUser => "unknown user",
            Self::Expired => "expired REST username",
        })
    }
}

impl std::error::Error for CredentialError {}

/// The credential store of one realm. Passwords are never kept: static users are stored as
/// their long-term keys, and `Debug` shows no secret.
#[derive(Clone, Default)]
pub struct Credentials {
    realm: String,
    users: HashMap<String, LongTermKey>,
    by_hash: HashMap<[u8; 32], String>,
    shared_secret: Option<Vec<u8>>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("realm", &self.realm)
            .field("static_users", &self.users.len())
            .field("shared_secret", &self.shared_secret.is_some())
            .finish()
    }
}

impl Credentials {
    /// An empty store for `realm`.
    #[must_use]
    pub fn new(realm: impl Into<String>) -> Self {
        Self {
            realm: realm.into(),
            ..Self::default()
        }
    }

    /// The realm sent in REALM and mixed into every key.
    #[must_use]
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// Adds (or replaces) a static user.
    pub fn add_user(&mut self, username: &str, password: &str) {
        let key = LongTermKey::derive(username, &self.realm, password);
        self.users.insert(username.to_owned(), key);
        self.by_hash
            .insert(userhash(username, &self.realm), username.to_owned());
    }

    /// Builder form of [`Credentials::add_user`].
    #[must_use]
    pub fn with_user(mut self, username: &str, password: &str) -> Self {
        self.add_user(username, password);
        self
    }

    /// Enables TURN REST credentials signed with `secret`.
    pub fn set_shared_secret(&mut self, secret: impl Into<Vec<u8>>) {
        self.shared_secret = Some(secret.into());
    }

    /// Builder form of [`Credentials::set_shared_secret`].
    #[must_use]
    pub fn with_shared_secret(mut self, secret: impl Into<Vec<u8>>) -> Self {
        self.set_shared_secret(secret);
        self
    }

    /// The long-term key for `username` at `unix_now` (seconds since the Unix epoch). Static
    /// users are looked up first; then, if a shared secret is set, a REST username
    /// (`expiry:user`, or just `expiry`) is checked for expiry and its key derived.
    pub fn key_for(&self, username: &str, unix_now: u64) -> Result<LongTermKey, CredentialError> {
        if let Some(key) = self.users.get(username) {
            return Ok(*key);
        }
        let Some(secret) = &self.shared_secret else {
            return Err(CredentialError::UnknownUser);
        };
        let expiry = username.split_once(':').map_or(username, |(e, _)| e);
        if expiry.is_empty() || !expiry.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CredentialError::UnknownUser);
        }
        // Too many digits to parse is a date far in the future: refuse it as malformed.
        let expiry: u64 = expiry.parse().map_err(|_| CredentialError::UnknownUser)?;
        if expiry < unix_now {
            return Err(CredentialError::Expired);
        }
        let password = rest_password(secret, username);
        Ok(LongTermKey::derive(username, &self.realm, &password))
    }

    /// The static user whose USERHASH is `hash`, with their key. REST users cannot be found
    /// by hash.
    #[must_use]
    pub fn user_for_hash(&self, hash: &[u8; 32]) -> Option<(&str, LongTermKey)> {
        let name = self.by_hash.get(hash)?;
        Some((name.as_str(), *self.users.get(name)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_term_key_is_md5_of_user_realm_password() {
        let key = LongTermKey::derive("alice", "example.org", "secret");
        let hex: String = key.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "543e1aec5d3614f03141652d6ada51b2");
        assert_eq!(format!("{key:?}"), "LongTermKey(..)");
    }

    #[test]
    fn rest_password_matches_the_reference_algorithm() {
        assert_eq!(
            rest_password(b"north", "1433895918506:my_user_name"),
            "+8A4l7VX6yTmEzUg7ltAn+0+I8E="
        );
    }

    #[test]
    fn lookup_rules() {
        let c = Credentials::new("r")
            .with_user("alice", "pw")
            .with_shared_secret("s");
        assert_eq!(
            c.key_for("alice", 0),
            Ok(LongTermKey::derive("alice", "r", "pw"))
        );
        assert_eq!(c.key_for("bob", 0), Err(CredentialError::UnknownUser));
        let (user, pass) = rest_credentials(b"s", "bob", 100);
        assert_eq!(
            c.key_for(&user, 100),
            Ok(LongTermKey::derive(&user, "r", &pass))
        );
        assert_eq!(c.key_for(&user, 101), Err(CredentialError::Expired));
        assert_eq!(
            c.key_for("200", 100),
            Ok(LongTermKey::derive("200", "r", &rest_password(b"s", "200")))
        );
        for bad in [
            "",
            ":bob",
            "12a:bob",
            "99999999999999999999999:bob",
            "-1:bob",
        ] {
            assert_eq!(
                c.key_for(bad, 0),
                Err(CredentialError::UnknownUser),
                "{bad}"
            );
        }
        let without_secret = Credentials::new("r");
        assert_eq!(
            without_secret.key_for(&user, 0),
            Err(CredentialError::UnknownUser)
        );
        let (name, key) = c
            .user_for_hash(&userhash("alice", "r"))
            .unwrap_or(("", LongTermKey([0; 16])));
        assert_eq!(
            (name, key),
            ("alice", LongTermKey::derive("alice", "r", "pw"))
        );
        assert!(!format!("{c:?}").contains("pw"));
    }
}
