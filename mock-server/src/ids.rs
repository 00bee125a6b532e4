//! Identifiers and secrets of the real shapes, drawn from the world's seeded generator.

use rand::rngs::StdRng;
use rand::{Rng, RngCore};

const UPPER_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const SECRET_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const HEX: &[u8] = b"0123456789abcdef";

/// Lower-case hex of `bytes` (digests, signatures, key ids), without the formatting machinery.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 0xf) as usize] as char);
    }
    s
}

fn draw(rng: &mut StdRng, alphabet: &[u8], len: usize) -> String {
    if alphabet.len().is_power_of_two() {
        let mask = alphabet.len() - 1;
        let mut bytes = vec![0u8; len];
        rng.fill_bytes(&mut bytes);
        bytes.iter_mut().for_each(|b| *b = alphabet[*b as usize & mask]);
        return String::from_utf8(bytes).expect("the alphabets are ASCII");
    }
    (0..len).map(|_| alphabet[rng.random_range(0..alphabet.len())] as char).collect()
}

/// A temporary access key id of account `account_id`: `ASIA` + 16 base32 characters (20 in all),
/// laid out as current AWS key ids are — the generation bit set, the account number in the next
/// 40 bits, then random bits — so [`access_key_account`], `sts:GetAccessKeyInfo` and offline
/// decoders find the account in it (layout: awsteele.com/blog/2020/09/26/aws-access-key-format.html,
/// and WithSecure's bitwise analysis of access key ids).
pub(crate) fn temporary_access_key_id(rng: &mut StdRng, account_id: &str) -> String {
    let account = account_id.parse::<u64>().unwrap_or(0) & ((1 << 40) - 1);
    let mut bytes = [0u8; 10];
    rng.fill_bytes(&mut bytes);
    let head = (1u64 << 47) | (account << 7) | u64::from(bytes[5] & 0x7f);
    bytes[..6].copy_from_slice(&head.to_be_bytes()[2..]);
    let bits = u128::from_be_bytes({
        let mut wide = [0u8; 16];
        wide[6..].copy_from_slice(&bytes);
        wide
    });
    let mut id = String::with_capacity(20);
    id.push_str("ASIA");
    for i in (0..16).rev() {
        id.push(UPPER_ALNUM[((bits >> (i * 5)) & 31) as usize] as char);
    }
    id
}

/// The account number an access key id carries (12 digits), as `sts:GetAccessKeyInfo` decodes
/// it; `None` unless it is a 4-character prefix and 16 base32 characters.
pub(crate) fn access_key_account(access_key_id: &str) -> Option<String> {
    let body = access_key_id.get(4..).filter(|b| b.len() == 16 && access_key_id.len() == 20)?;
    let mut bits: u128 = 0;
    for c in body.bytes() {
        bits = (bits << 5) | UPPER_ALNUM.iter().position(|a| *a == c)? as u128;
    }
    let head = (bits >> 32) as u64;
    Some(format!("{:012}", (head & 0x7fff_ffff_ff80) >> 7))
}

/// A secret access key: 40 characters of the base64 alphabet.
pub(crate) fn secret_access_key(rng: &mut StdRng) -> String {
    draw(rng, SECRET_CHARS, 40)
}

/// A session token: opaque base64 text of the length real STS tokens have (several hundred bytes).
pub(crate) fn session_token(rng: &mut StdRng) -> String {
    format!("IQoJb3JpZ2luX2Vj{}", draw(rng, SECRET_CHARS, 600))
}

/// An IMDSv2 session token: 56 characters, base64-looking, as EC2 hands out.
pub(crate) fn imds_token(rng: &mut StdRng) -> String {
    format!("AQAEA{}==", draw(rng, SECRET_CHARS, 49))
}

/// A request id in UUID form (lower-case hex, 8-4-4-4-12).
pub(crate) fn request_id(rng: &mut StdRng) -> String {
    let h = draw(rng, HEX, 32);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// The `n`-th request id of a world seeded with `seed` (UUID form, lower-case hex).
pub(crate) fn sequenced_request_id(seed: u64, n: u64) -> String {
    let mix = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let a = mix(seed ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let b = mix(a ^ 0x632b_e59b_d9b4_e019);
    let h = format!("{a:016x}{b:016x}");
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// A stable number derived from `name` (64-bit FNV-1a): the same name always gives the same
/// number, for ids a world leaves out (an imported service account's unique id, the ids of a
/// repository a token override names).
pub(crate) fn stable_number(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// A stable id derived from a name: `prefix` + 17 upper-case characters (e.g. `AROA…` for a role,
/// `AIPA…` for an instance profile). The same name always gives the same id.
pub(crate) fn stable_id(prefix: &str, name: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, format!("{prefix}:{name}").as_bytes());
    let body: String = digest.as_ref().iter().take(17).map(|b| UPPER_ALNUM[(*b as usize) % UPPER_ALNUM.len()] as char).collect();
    format!("{prefix}{body}")
}

/// A stable UUID (version 4 layout) derived from `name`, for Kubernetes object uids a world
/// leaves out. The same name always gives the same uid.
pub(crate) fn stable_uuid(name: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, format!("uuid:{name}").as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest.as_ref()[..16]);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn hex_is_lower_case_two_digits_per_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(hex(&[]), "");
    }

    #[test]
    fn generated_ids_have_the_real_shapes() {
        let mut rng = StdRng::seed_from_u64(7);
        let akid = temporary_access_key_id(&mut rng, "123456789012");
        assert_eq!(akid.len(), 20);
        assert!(akid.starts_with("ASIA"));
        assert!(akid.bytes().all(|c| UPPER_ALNUM.contains(&c)), "{akid}");
        assert_eq!(secret_access_key(&mut rng).len(), 40);
        assert!(session_token(&mut rng).len() > 300);
        assert_eq!(imds_token(&mut rng).len(), 56);
        let rid = request_id(&mut rng);
        assert_eq!(rid.len(), 36);
        assert_eq!(rid.matches('-').count(), 4);
    }

    #[test]
    fn stable_ids_depend_only_on_the_name() {
        assert_eq!(stable_id("AROA", "r"), stable_id("AROA", "r"));
        assert_ne!(stable_id("AROA", "r"), stable_id("AROA", "s"));
        assert_eq!(stable_id("AROA", "r").len(), 21);
    }

    #[test]
    fn the_same_seed_draws_the_same_values() {
        let a = temporary_access_key_id(&mut StdRng::seed_from_u64(1), "123456789012");
        let b = temporary_access_key_id(&mut StdRng::seed_from_u64(1), "123456789012");
        assert_eq!(a, b);
    }

    #[test]
    fn access_key_ids_carry_their_account_as_aws_key_ids_do() {
        assert_eq!(access_key_account("ASIAY34FZKBOKMUTVV7A").as_deref(), Some("609629065308"), "the published example decodes");
        let mut rng = StdRng::seed_from_u64(3);
        for account in ["123456789012", "210987654321", "000000000001", "999999999999"] {
            for _ in 0..50 {
                let akid = temporary_access_key_id(&mut rng, account);
                assert_eq!(access_key_account(&akid).as_deref(), Some(account), "{akid}");
                assert!(matches!(akid.as_bytes()[4], b'Q'..=b'Z' | b'2'..=b'7'), "generation bit set: {akid}");
            }
        }
        let a = temporary_access_key_id(&mut rng, "123456789012");
        let b = temporary_access_key_id(&mut rng, "123456789012");
        assert_ne!(a, b, "the rest is random");
        for bad in ["ASIA", "ASIAY34FZKBOKMUTVV7", "ASIAY34FZKBOKMUTVV7A1", "ASIAY34FZKBOKMUTVV70", "asiay34fzkbokmutvv7a"] {
            assert_eq!(access_key_account(bad), None, "{bad}");
        }
    }
}
