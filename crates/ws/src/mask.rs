//! Payload masking (RFC 6455 §5.3).
//!
//! The fast path XORs eight bytes at a time with a rotated 64-bit key; a byte-wise reference
//! implementation is kept for the differential tests.

/// XORs `data` in place with the 4-byte masking `key`, as if the first byte of `data` sat at
/// `offset` within the frame payload. Masking is its own inverse.
pub fn apply_mask(data: &mut [u8], key: [u8; 4], offset: usize) {
    let mut key = key;
    key.rotate_left(offset % 4);
    let key64 = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let masked = u64::from_ne_bytes(word) ^ key64;
        chunk.copy_from_slice(&masked.to_ne_bytes());
    }
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= key[i % 4];
    }
}

#[cfg(test)]
fn apply_mask_reference(data: &mut [u8], key: [u8; 4], offset: usize) {
    for (i, byte) in data.iter_mut().enumerate() {
        *byte ^= key[(i + offset) % 4];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_path_matches_reference_for_every_length_offset_and_alignment() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let source: Vec<u8> = (0..80u8).map(|b| b.wrapping_mul(31)).collect();
        for start in 0..8 {
            for len in 0..(source.len() - start) {
                for offset in 0..4 {
                    let mut fast = source[start..start + len].to_vec();
                    let mut slow = fast.clone();
                    apply_mask(&mut fast, key, offset);
                    apply_mask_reference(&mut slow, key, offset);
                    assert_eq!(fast, slow, "start {start} len {len} offset {offset}");
                }
            }
        }
    }

    #[test]
    fn masking_twice_restores_the_payload() {
        let mut data = b"Hello, masked world!".to_vec();
        apply_mask(&mut data, [1, 2, 3, 4], 0);
        assert_ne!(&data[..], b"Hello, masked world!");
        apply_mask(&mut data, [1, 2, 3, 4], 0);
        assert_eq!(&data[..], b"Hello, masked world!");
    }

    #[test]
    fn rfc6455_masked_hello() {
        // RFC 6455 §5.7: "Hello" masked with 37 fa 21 3d.
        let mut data = b"Hello".to_vec();
        apply_mask(&mut data, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(data, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    }
}
