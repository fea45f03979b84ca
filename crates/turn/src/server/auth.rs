//! The long-term credential mechanism on the server side (RFC 8489 §9.2.4): the 401
//! challenge, nonce checks (438), key lookup and MESSAGE-INTEGRITY verification.

use std::time::Instant;

use super::{Server, Signer, Txn};
use crate::attributes::{Attribute, AttributeType};
use crate::credentials::LongTermKey;
use crate::error_code::ErrorCode;
use crate::message::{Class, IntegrityAlgorithm, Message};
use crate::nonce::NonceStatus;

/// A request that passed authentication.
#[derive(Debug)]
pub(super) struct Authed {
    pub(super) username: Box<str>,
    pub(super) key: LongTermKey,
    pub(super) algorithm: IntegrityAlgorithm,
}

impl Authed {
    pub(super) const fn signer(&self) -> Signer {
        Some((self.key, self.algorithm))
    }
}

impl Server {
    /// Authenticates a request, or answers it (401, 438, 400) and returns `None`.
    pub(super) fn authenticate(
        &mut self,
        now: Instant,
        txn: &Txn,
        msg: &Message<'_>,
    ) -> Option<Authed> {
        let ip = txn.to.client.ip();
        if !msg.has_integrity() {
            if self.admit_unauthenticated(now, ip) {
                self.challenge(now, txn, ErrorCode::UNAUTHENTICATED);
            }
            return None;
        }
        let realm = match msg.get(AttributeType::REALM) {
            Some(Attribute::Realm(r)) => Some(r),
            _ => None,
        };
        let nonce = match msg.get(AttributeType::NONCE) {
            Some(Attribute::Nonce(n)) => Some(n),
            _ => None,
        };
        let username = msg.get(AttributeType::USERNAME);
        let userhash = msg.get(AttributeType::USERHASH);
        let (Some(realm), Some(nonce)) = (realm, nonce) else {
            return self.refuse(now, txn, ErrorCode::BAD_REQUEST);
        };
        if username.is_none() && userhash.is_none() {
            return self.refuse(now, txn, ErrorCode::BAD_REQUEST);
        }
        let unix_now = self.unix_time(now);
        let lifetime = self.config.nonce_lifetime.as_secs();
        if self.nonces.check(nonce, unix_now, ip, lifetime) != NonceStatus::Valid {
            if self.admit_unauthenticated(now, ip) {
                self.challenge(now, txn, ErrorCode::STALE_NONCE);
            }
            return None;
        }
        if realm != self.config.credentials.realm() {
            return self.auth_failure(now, txn);
        }
        let found = match (username, userhash) {
            (Some(Attribute::Username(name)), _) => self
                .config
                .credentials
                .key_for(name, unix_now)
                .ok()
                .map(|key| (Box::from(name), key)),
            (_, Some(Attribute::UserHash(hash))) => self
                .config
                .credentials
                .user_for_hash(hash)
                .map(|(name, key)| (Box::from(name), key)),
            _ => None,
        };
        let Some((username, key)) = found else {
            return self.auth_failure(now, txn);
        };
        match msg.verify_integrity(key.as_bytes()) {
            Ok(algorithm) => Some(Authed {
                username,
                key,
                algorithm,
            }),
            Err(_) => self.auth_failure(now, txn),
        }
    }

    /// 401 for wrong credentials: counted, and charged to the source's unauthenticated
    /// budget so password guessing is rate limited.
    fn auth_failure(&mut self, now: Instant, txn: &Txn) -> Option<Authed> {
        self.counters.auth_failures += 1;
        if self.admit_unauthenticated(now, txn.to.client.ip()) {
            self.challenge(now, txn, ErrorCode::UNAUTHENTICATED);
        }
        None
    }

    /// A plain unsigned error, charged to the source's unauthenticated budget.
    fn refuse(&mut self, now: Instant, txn: &Txn, code: ErrorCode) -> Option<Authed> {
        if self.admit_unauthenticated(now, txn.to.client.ip()) {
            self.error(txn, None, code);
        }
        None
    }

    /// An unsigned error with REALM and a fresh NONCE (401 or 438).
    pub(super) fn challenge(&mut self, now: Instant, txn: &Txn, code: ErrorCode) {
        let nonce = self.nonces.issue(self.unix_time(now), txn.to.client.ip());
        self.reply(txn, Class::ErrorResponse, None, |s, w| {
            w.attribute(&Attribute::ErrorCode(code, code.reason()))?;
            w.attribute(&Attribute::Realm(s.config.credentials.realm()))?;
            w.attribute(&Attribute::Nonce(&nonce))
        });
    }
}
