//! A client certificate's identity, read straight from its DER: the subject's first Common
//! Name, or the first Subject Alternative Name of a kind (RFC 5280 §4.1, §4.2.1.6).
//!
//! Only the few fields needed are walked, with a bounds-checked TLV reader; anything
//! unexpected yields `None`, never a panic. It runs on certificates that webpki has already
//! verified, but would be just as safe on arbitrary bytes (see the property test).

use super::IdentitySource;

/// DER tags (universal class, or context-specific where noted).
const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
const BOOLEAN: u8 = 0x01;
const OCTET_STRING: u8 = 0x04;
const UTF8_STRING: u8 = 0x0C;
const PRINTABLE_STRING: u8 = 0x13;
const IA5_STRING: u8 = 0x16;
const BMP_STRING: u8 = 0x1E;
/// `[0] EXPLICIT Version` of the TBSCertificate.
const VERSION: u8 = 0xA0;
/// `[3] EXPLICIT Extensions` of the TBSCertificate.
const EXTENSIONS: u8 = 0xA3;
/// GeneralName choices (context-specific, primitive, implicitly IA5String).
const SAN_EMAIL: u8 = 0x81;
const SAN_DNS: u8 = 0x82;
const SAN_URI: u8 = 0x86;

/// id-at-commonName, 2.5.4.3.
const OID_COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
/// id-ce-subjectAltName, 2.5.29.17.
const OID_SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1D, 0x11];

/// The identity of the certificate `der` according to `source`, if it has one.
pub(crate) fn identity(der: &[u8], source: IdentitySource) -> Option<String> {
    let tbs = tbs_fields(der)?;
    let id = match source {
        IdentitySource::CommonName => common_name(tbs.subject)?,
        IdentitySource::SanDns => alt_name(tbs.extensions?, SAN_DNS)?,
        IdentitySource::SanEmail => alt_name(tbs.extensions?, SAN_EMAIL)?,
        IdentitySource::SanUri => alt_name(tbs.extensions?, SAN_URI)?,
    };
    // An empty name, or one with control characters, is no identity to log in with.
    (!id.is_empty() && !id.chars().any(char::is_control)).then_some(id)
}

/// The TBSCertificate fields we read: the subject Name's content and the extensions'.
struct Tbs<'a> {
    subject: &'a [u8],
    extensions: Option<&'a [u8]>,
}

fn tbs_fields(der: &[u8]) -> Option<Tbs<'_>> {
    let cert = Reader::new(der).expect(SEQUENCE)?;
    let mut tbs = Reader::new(Reader::new(cert).expect_field(SEQUENCE)?);
    if tbs.peek_tag() == Some(VERSION) {
        tbs.next()?;
    }
    // serialNumber, signature, issuer, validity
    for _ in 0..4 {
        tbs.next()?;
    }
    let subject = tbs.expect_field(SEQUENCE)?;
    tbs.expect_field(SEQUENCE)?; // subjectPublicKeyInfo
    let mut extensions = None;
    // issuerUniqueID [1], subjectUniqueID [2], then extensions [3].
    while let Some((tag, content)) = tbs.next() {
        if tag == EXTENSIONS {
            extensions = Some(Reader::new(content).expect(SEQUENCE)?);
        }
    }
    Some(Tbs {
        subject,
        extensions,
    })
}

/// The first commonName attribute of a Name (a SEQUENCE of SETs of {type, value}).
fn common_name(name: &[u8]) -> Option<String> {
    let mut rdns = Reader::new(name);
    while let Some((tag, rdn)) = rdns.next() {
        if tag != SET {
            return None;
        }
        let mut attributes = Reader::new(rdn);
        while let Some((tag, attribute)) = attributes.next() {
            if tag != SEQUENCE {
                return None;
            }
            let mut fields = Reader::new(attribute);
            if fields.expect_field(OID)? == OID_COMMON_NAME {
                let (tag, value) = fields.next()?;
                return directory_string(tag, value);
            }
        }
    }
    None
}

/// A DirectoryString as text: UTF8String, PrintableString, IA5String or BMPString.
fn directory_string(tag: u8, value: &[u8]) -> Option<String> {
    match tag {
        UTF8_STRING | PRINTABLE_STRING | IA5_STRING => String::from_utf8(value.to_vec()).ok(),
        BMP_STRING if value.len().is_multiple_of(2) => {
            let units = value
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]));
            char::decode_utf16(units)
                .collect::<Result<String, _>>()
                .ok()
        }
        _ => None,
    }
}

/// The first GeneralName with `tag` in the subjectAltName extension.
fn alt_name(extensions: &[u8], tag: u8) -> Option<String> {
    let mut list = Reader::new(extensions);
    while let Some((kind, extension)) = list.next() {
        if kind != SEQUENCE {
            return None;
        }
        let mut fields = Reader::new(extension);
        if fields.expect_field(OID)? != OID_SUBJECT_ALT_NAME {
            continue;
        }
        if fields.peek_tag() == Some(BOOLEAN) {
            fields.next()?; // critical
        }
        let value = fields.expect_field(OCTET_STRING)?;
        let mut names = Reader::new(Reader::new(value).expect(SEQUENCE)?);
        while let Some((kind, name)) = names.next() {
            if kind == tag {
                return String::from_utf8(name.to_vec()).ok();
            }
        }
        return None;
    }
    None
}

/// Reads DER TLVs off the front of a slice. Only single-byte tags and definite lengths of up
/// to four bytes exist in a certificate; anything else ends the read.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(der: &'a [u8]) -> Self {
        Self { rest: der }
    }

    fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// The next TLV's tag and content.
    fn next(&mut self) -> Option<(u8, &'a [u8])> {
        let (&tag, rest) = self.rest.split_first()?;
        if tag & 0x1F == 0x1F {
            return None; // high-tag-number form
        }
        let (&first, mut rest) = rest.split_first()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let count = usize::from(first & 0x7F);
            if count == 0 || count > 4 || rest.len() < count {
                return None; // indefinite, or longer than any certificate
            }
            let (bytes, after) = rest.split_at(count);
            rest = after;
            bytes.iter().fold(0usize, |n, &b| (n << 8) | usize::from(b))
        };
        if rest.len() < len {
            self.rest = &[];
            return None;
        }
        let (content, after) = rest.split_at(len);
        self.rest = after;
        Some((tag, content))
    }

    /// The content of the next TLV, which must have `tag`.
    fn expect_field(&mut self, tag: u8) -> Option<&'a [u8]> {
        self.next()
            .and_then(|(t, content)| (t == tag).then_some(content))
    }

    /// The content of the one TLV that makes up the whole input, which must have `tag`.
    fn expect(mut self, tag: u8) -> Option<&'a [u8]> {
        let content = self.expect_field(tag)?;
        self.rest.is_empty().then_some(content)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rcgen::{CertificateParams, DnType, KeyPair, SanType};

    fn cert(cn: Option<&str>, sans: Vec<SanType>) -> Vec<u8> {
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationName, "mqlite tests");
        if let Some(cn) = cn {
            params.distinguished_name.push(DnType::CommonName, cn);
        }
        params.subject_alt_names = sans;
        let key = KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn common_name_is_read_after_other_attributes() {
        let der = cert(Some("sensor-17"), vec![]);
        assert_eq!(
            identity(&der, IdentitySource::CommonName).as_deref(),
            Some("sensor-17")
        );
        assert_eq!(identity(&der, IdentitySource::SanDns), None);
    }

    #[test]
    fn missing_common_name_is_none() {
        let der = cert(
            None,
            vec![SanType::DnsName("a.example".try_into().unwrap())],
        );
        assert_eq!(identity(&der, IdentitySource::CommonName), None);
    }

    #[test]
    fn subject_alt_names_by_kind() {
        let der = cert(
            Some("cn"),
            vec![
                SanType::IpAddress([127, 0, 0, 1].into()),
                SanType::DnsName("dev.example".try_into().unwrap()),
                SanType::Rfc822Name("ops@example.org".try_into().unwrap()),
                SanType::URI("spiffe://example.org/dev/1".try_into().unwrap()),
                SanType::DnsName("second.example".try_into().unwrap()),
            ],
        );
        let get = |source| identity(&der, source);
        assert_eq!(get(IdentitySource::SanDns).as_deref(), Some("dev.example"));
        assert_eq!(
            get(IdentitySource::SanEmail).as_deref(),
            Some("ops@example.org")
        );
        assert_eq!(
            get(IdentitySource::SanUri).as_deref(),
            Some("spiffe://example.org/dev/1")
        );
    }

    #[test]
    fn bmp_string_common_name_is_decoded() {
        // SEQUENCE { SET { SEQUENCE { OID 2.5.4.3, BMPString "hé" } } }
        let name = [
            0x31, 0x0D, // SET
            0x30, 0x0B, // SEQUENCE
            0x06, 0x03, 0x55, 0x04, 0x03, // OID commonName
            0x1E, 0x04, 0x00, b'h', 0x00, 0xE9, // BMPString "hé"
        ];
        assert_eq!(common_name(&name).as_deref(), Some("hé"));
    }

    #[test]
    fn truncated_and_odd_lengths_are_none() {
        let der = cert(Some("x"), vec![]);
        for cut in 0..der.len() {
            assert_eq!(identity(&der[..cut], IdentitySource::CommonName), None);
        }
        // Indefinite length, and a 5-byte length.
        assert_eq!(Reader::new(&[0x30, 0x80, 0, 0]).next(), None);
        assert_eq!(Reader::new(&[0x30, 0x85, 1, 0, 0, 0, 0]).next(), None);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            for source in [IdentitySource::CommonName, IdentitySource::SanDns, IdentitySource::SanUri] {
                let _ = identity(&bytes, source);
            }
        }
    }
}
