//! Decimal formatting into reused buffers, so the request path never goes through
//! `format!` (which allocates a new `String` each time).

/// Appends the decimal digits of `v` to `out`.
pub(crate) fn push_u64(out: &mut String, v: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut v = v;
    loop {
        i -= 1;
        // `v % 10` is below 10, so the cast cannot truncate.
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for &d in &digits[i..] {
        out.push(char::from(d));
    }
}

/// Appends the decimal digits of `v` to a byte buffer.
pub(crate) fn push_u64_bytes(out: &mut Vec<u8>, v: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut v = v;
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    both_targets_test! {
        fn formats_zero_and_extremes() {
            let mut s = String::new();
            push_u64(&mut s, 0);
            s.push(' ');
            push_u64(&mut s, 429);
            s.push(' ');
            push_u64(&mut s, u64::MAX);
            assert_eq!(s, "0 429 18446744073709551615");
            let mut b = Vec::new();
            push_u64_bytes(&mut b, 65_536);
            assert_eq!(b, b"65536");
        }
    }
}
