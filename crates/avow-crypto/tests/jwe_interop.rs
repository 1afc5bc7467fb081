//! ISS-ENC-09: ECDH-ES + A128GCM / A256GCM interoperate with an independent
//! JOSE implementation, Python's `jwcrypto` (`python3 -m pip install jwcrypto`;
//! `.ci/run` installs it). Both directions, both `enc` values, with `kid`,
//! `apu` and `apv`.

use avow_crypto::ecdh::EcdhPrivateKey;
use avow_crypto::jwe::{CompactJwe, ContentEncryption, JweOptions, encrypt_compact};
use serde_json::{Value, json};
use std::io::Write;
use std::process::{Command, Stdio};

/// Reads a JSON job on stdin: `encrypt` makes a compact JWE to the key,
/// `decrypt` opens one; prints a JSON answer.
const SCRIPT: &str = r#"
import json, sys
try:
    from jwcrypto import jwe, jwk
    from jwcrypto.common import json_encode
except ImportError:
    print(json.dumps({"missing": True}))
    sys.exit(0)
job = json.load(sys.stdin)
key = jwk.JWK.from_pem(job["pem"].encode())
if job["op"] == "encrypt":
    header = {"alg": "ECDH-ES", "enc": job["enc"], "kid": job["kid"],
              "apu": job["apu"], "apv": job["apv"]}
    token = jwe.JWE(job["plaintext"].encode(), json_encode(header))
    token.add_recipient(key)
    print(json.dumps({"jwe": token.serialize(compact=True)}))
else:
    token = jwe.JWE()
    token.deserialize(job["jwe"], key=key)
    print(json.dumps({"plaintext": token.payload.decode(),
                      "header": json.loads(token.objects["protected"])}))
"#;

fn jwcrypto(job: &Value) -> Value {
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 must be installed for the JWE interop test");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(job.to_string().as_bytes())
        .expect("write job");
    let output = child.wait_with_output().expect("python3 output");
    assert!(
        output.status.success(),
        "jwcrypto failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: Value = serde_json::from_slice(&output.stdout).expect("JSON from python3");
    assert!(
        answer.get("missing").is_none(),
        "the Python module jwcrypto is missing: install it with `python3 -m pip install jwcrypto` (ISS-ENC-09 interop test)"
    );
    answer
}

fn pem_of(key: &EcdhPrivateKey) -> String {
    avow_crypto::pem::encode("PRIVATE KEY", &key.to_pkcs8().expect("pkcs8"))
}

#[test]
fn jwcrypto_to_avow() {
    for enc in ContentEncryption::ALL {
        let key = EcdhPrivateKey::generate().expect("key");
        let plaintext = format!("{{\"credential_configuration_id\":\"pid\",\"enc\":\"{enc}\"}}");
        let answer = jwcrypto(&json!({
            "op": "encrypt", "pem": pem_of(&key), "enc": enc.name(), "kid": "issuer-key-1",
            "apu": avow_crypto::b64::encode("wallet"), "apv": avow_crypto::b64::encode("issuer"),
            "plaintext": plaintext,
        }));
        let compact = answer["jwe"].as_str().expect("jwe");
        let parsed = CompactJwe::parse(compact).expect("jwcrypto's JWE parses");
        assert_eq!(parsed.enc(), enc);
        assert_eq!(parsed.kid(), Some("issuer-key-1"));
        assert_eq!(
            parsed.decrypt(&key).expect("decrypts"),
            plaintext.as_bytes(),
            "{enc}"
        );
        let other = EcdhPrivateKey::generate().expect("key");
        assert!(parsed.decrypt(&other).is_err());
    }
}

#[test]
fn avow_to_jwcrypto() {
    for enc in ContentEncryption::ALL {
        let key = EcdhPrivateKey::generate().expect("key");
        let plaintext = format!("{{\"credentials\":[{{\"credential\":\"{enc}\"}}]}}");
        let options = JweOptions {
            kid: Some("wallet-key"),
            apu: Some(b"Alice"),
            apv: Some(b"Bob"),
            ..JweOptions::default()
        };
        let compact = encrypt_compact(key.public_jwk(), enc, &options, plaintext.as_bytes())
            .expect("encrypt");
        let answer = jwcrypto(&json!({ "op": "decrypt", "pem": pem_of(&key), "jwe": compact }));
        assert_eq!(answer["plaintext"], plaintext, "{enc}");
        assert_eq!(answer["header"]["enc"], enc.name());
        assert_eq!(answer["header"]["alg"], "ECDH-ES");
        assert_eq!(answer["header"]["kid"], "wallet-key");
    }
}
