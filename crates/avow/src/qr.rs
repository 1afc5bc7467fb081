//! QR codes of offer links: terminal, SVG and PNG (ISS-OFFER-08).
//! The PNG writer is tiny (stored deflate blocks) so no image library is needed.

use anyhow::Context;
use qrcode::QrCode;

pub fn terminal(text: &str) -> anyhow::Result<String> {
    let code = QrCode::new(text.as_bytes()).context("the link is too long for a QR code")?;
    Ok(code
        .render::<qrcode::render::unicode::Dense1x2>()
        .quiet_zone(true)
        .build())
}

pub fn svg(text: &str) -> anyhow::Result<String> {
    let code = QrCode::new(text.as_bytes()).context("the link is too long for a QR code")?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(256, 256)
        .build())
}

/// A grayscale PNG, `scale` pixels per module, 4-module quiet zone.
pub fn png(text: &str, scale: usize) -> anyhow::Result<Vec<u8>> {
    let code = QrCode::new(text.as_bytes()).context("the link is too long for a QR code")?;
    let modules = code.width();
    let colors = code.to_colors();
    let size = (modules + 8) * scale;
    let mut raw = Vec::with_capacity((size + 1) * size);
    for y in 0..size {
        raw.push(0u8); // filter: none
        for x in 0..size {
            let (mx, my) = ((x / scale).wrapping_sub(4), (y / scale).wrapping_sub(4));
            let dark = mx < modules
                && my < modules
                && colors.get(my * modules + mx) == Some(&qrcode::Color::Dark);
            raw.push(if dark { 0 } else { 255 });
        }
    }
    let side = u32::try_from(size).context("QR image too large")?;
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&side.to_be_bytes());
    ihdr.extend_from_slice(&side.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]); // 8-bit grayscale
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &zlib_stored(&raw));
    chunk(&mut out, b"IEND", &[]);
    Ok(out)
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&u32::try_from(data.len()).unwrap_or(u32::MAX).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(out.get(start..).unwrap_or_default());
    out.extend_from_slice(&crc.to_be_bytes());
}

/// zlib stream of stored (uncompressed) deflate blocks (RFC 1950, RFC 1951 §3.2.4).
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x78, 0x01];
    let mut blocks = data.chunks(65_535).peekable();
    if blocks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(block) = blocks.next() {
        out.push(u8::from(blocks.peek().is_none()));
        let len = u16::try_from(block.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    out.extend_from_slice(&((b << 16) | a).to_be_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_and_adler_match_known_values() {
        assert_eq!(crc32(b"IEND"), 0xae42_6082);
        let z = zlib_stored(b"Wikipedia");
        assert_eq!(
            z.get(z.len() - 4..),
            Some(&0x11e6_0398u32.to_be_bytes()[..])
        );
    }

    #[test]
    fn renders_all_three() {
        let link =
            "openid-credential-offer://?credential_offer_uri=https%3A%2F%2Fi.example%2Fo%2F1";
        assert!(terminal(link).is_ok_and(|t| !t.is_empty()));
        assert!(svg(link).is_ok_and(|s| s.contains("<svg")));
        assert!(png(link, 4).is_ok_and(|p| p.starts_with(b"\x89PNG")));
    }
}
