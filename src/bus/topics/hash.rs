//! The topic hash that keys the cache: FxHash's multiply-rotate, fast on
//! short names, never 0 (the cache's mark of an empty entry).

/// A topic's hash: FxHash's multiply-rotate over 8 bytes at a time. Topic
/// names are short, and SipHash (std's default, built to resist collision
/// attacks) costs more than the rest of a cached emit; topic names come
/// from the program, not from an adversary. The length is mixed in first
/// (else `"a"` and `"a\0"` would share a hash), and the low bit is set:
/// 0 marks an empty entry, so no topic (not even one of NUL bytes) may hash
/// to it.
#[inline]
pub(super) fn hash(topic: &str) -> u64 {
    const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;
    let bytes = topic.as_bytes();
    let mut hash = (bytes.len() as u64).wrapping_mul(SEED);
    let mut mix = |word: u64| hash = (hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    let word = |at: usize| {
        let mut word = [0; 8];
        word.copy_from_slice(&bytes[at..at + 8]);
        u64::from_le_bytes(word)
    };
    if bytes.len() >= 8 {
        let mut at = 0;
        while at + 8 <= bytes.len() {
            mix(word(at));
            at += 8;
        }
        if at < bytes.len() {
            // The last 8 bytes, overlapping the previous word: no
            // byte-by-byte tail.
            mix(word(bytes.len() - 8));
        }
    } else {
        let mut tail = 0u64;
        for (i, byte) in bytes.iter().enumerate() {
            tail |= u64::from(*byte) << (8 * i);
        }
        mix(tail);
    }
    hash | 1
}

#[cfg(all(test, not(loom)))]
mod test {
    use super::hash;

    /// No topic hashes to 0, the mark of an empty entry; the length is part
    /// of the hash.
    #[test]
    fn hashes_are_never_zero_and_include_the_length() {
        for topic in ["", "\0", "\0\0", "\0\0\0\0\0\0\0\0", "a"] {
            assert_ne!(hash(topic), 0, "{topic:?}");
        }
        assert_ne!(hash("a"), hash("a\0"));
        assert_ne!(hash("a\0"), hash("a\0\0"));
    }
}
