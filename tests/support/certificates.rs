//! Throwaway certificates for TLS tests, made with the `openssl` command: a CA (`ca.pem`), a
//! certificate it signed for `localhost` and 127.0.0.1 (`cert.pem`, `key.pem`), and a client
//! certificate it signed (`client.pem`, `client.key`). Shared by several crates' tests.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::path::Path;
use std::process::{Command, Stdio};

/// Writes the certificates into `dir`, which must exist.
pub fn make_test_certificates(dir: &Path) {
    let openssl = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stderr(Stdio::null())
            .status()
            .expect("openssl");
        assert!(status.success(), "openssl {args:?}");
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-days",
                "1",
                "-subj",
                "/CN=switchboard test CA",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
            ],
        ]
        .concat(),
    );
    let signed = |name: &str, key: &str, cert: &str, extensions: &str| {
        openssl(
            &[
                &["req"][..],
                &ec,
                &[
                    "-subj",
                    &format!("/CN={name}"),
                    "-keyout",
                    key,
                    "-out",
                    "leaf.csr",
                ],
            ]
            .concat(),
        );
        std::fs::write(dir.join("leaf.ext"), extensions).unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "leaf.ext",
            "-out",
            cert,
        ]);
    };
    signed(
        "localhost",
        "key.pem",
        "cert.pem",
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    );
    signed(
        "switchboard test client",
        "client.key",
        "client.pem",
        "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n",
    );
}
