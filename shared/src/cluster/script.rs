//! The one Lua script the cluster policy runs in Redis, for batched and strict mode alike.
//!
//! ```text
//! KEYS[1]        the batch marker (<key_prefix>:batch:<id>; unused when ARGV[1] is 0)
//! KEYS[2..n+1]   the counters
//! ARGV[1]        the marker's TTL in ms, or 0 for no marker
//! ARGV[2i]       the increment of KEYS[i+1] (0: only read it; a missing key reads 0 and is not created)
//! ARGV[2i+1]     the TTL in ms of KEYS[i+1], set when this call creates it
//! returns        a flat array of n bulk strings, each a counter's total after the call
//!                in decimal, in KEYS order
//! ```
//!
//! The totals are returned as strings, not integers, and never nil, because of two Webdis
//! 0.1.9 defects in its `.raw` form (observed): it drops nils from arrays while keeping the `*n`
//! count, and it formats integers through 32 bits — a top-level integer of 2^31 or more comes
//! back cut to two digits, one inside an array gets a wrong `$` length (11–12 digits) or
//! corrupts Webdis's heap and kills it (13 digits and more). Bulk strings of any length pass
//! intact. [`reply`](super::reply) reads integers and integer strings alike.
//!
//! **All or nothing.** Every check that can fail (argument count, numbers, a key that holds no
//! integer) runs before the first write, so an error reply means nothing was applied. Numbers
//! are at most 15 digits so Lua's doubles hold them exactly; they are passed to Redis as the
//! strings they arrived as and totals formatted with `%d` (Lua 5.1 would print a large double
//! as `1e+15`).
//!
//! **Exactly once across retries.** A batch carries an id. The script sets its marker with
//! `SET NX PX`: if the marker already exists, this batch was applied by an earlier call whose
//! reply was lost (a timeout), so the script only reads and returns the totals. Re-sending the
//! same batch (same id, same increments) after an unknown outcome is therefore always safe; see
//! [`pending`](super::pending). The marker lives as long as the longest counter TTL in the
//! batch: after that every counter it touched has expired, and re-applying it could only
//! re-create counters of windows that are over.
//!
//! Redis Cluster is not supported: the keys of one call may hash to different slots.

/// The script text, sent by `SCRIPT LOAD` and by the `EVAL` fallback. Written compactly (the
/// layout is documented above) so that, url-encoded, it stays near one TCP segment: see the
/// Webdis quirk in [`webdis`](super::webdis).
pub const SCRIPT: &str = concat!(
    "-- gateway-wasm rate-limit sync v1\n",
    "local n=#KEYS-1\n",
    "if n<0 or #ARGV~=2*n+1 then return redis.error_reply('ERR rate-limit sync: bad argument count') end\n",
    "for i=1,#ARGV do\n",
    " if not string.match(ARGV[i],'^%d+$') or #ARGV[i]>15 then return redis.error_reply('ERR rate-limit sync: bad number') end\n",
    "end\n",
    "local cur={}\n",
    "for i=1,n do\n",
    " local v=redis.call('GET',KEYS[i+1])\n",
    " if v and not string.match(v,'^%-?%d+$') then return redis.error_reply('ERR rate-limit sync: not a counter: '..KEYS[i+1]) end\n",
    " cur[i]=v\n",
    "end\n",
    "local apply=ARGV[1]=='0' or redis.call('SET',KEYS[1],'1','NX','PX',ARGV[1])~=false\n",
    "local out={}\n",
    "for i=1,n do\n",
    " local inc=ARGV[2*i]\n",
    " if apply and inc~='0' then\n",
    "  out[i]=string.format('%d',redis.call('INCRBY',KEYS[i+1],inc))\n",
    "  if not cur[i] then redis.call('PEXPIRE',KEYS[i+1],ARGV[2*i+1]) end\n",
    " else\n",
    "  out[i]=cur[i] or '0'\n",
    " end\n",
    "end\n",
    "return out"
);

/// The SHA-1 of [`SCRIPT`] in lower-case hex, as `EVALSHA` names it (checked by a test against
/// [`sha1_hex`](super::sha1::sha1_hex) and what a real `SCRIPT LOAD` returned).
pub const SCRIPT_SHA1: &str = "aca28b3a8afb17d3f88d5a2a6a9cece80a10e6d0";

/// The largest increment or TTL the script accepts (15 digits).
pub const MAX_SCRIPT_NUMBER: u64 = 999_999_999_999_999;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::sha1::sha1_hex;

    both_targets_test! {
        fn script_sha1_is_the_digest_of_the_script_text() {
            assert_eq!(sha1_hex(SCRIPT.as_bytes()), SCRIPT_SHA1);
        }
    }

    both_targets_test! {
        fn script_has_no_trailing_newline_so_printf_and_sha1sum_agree() {
            // `printf %s "$script" | sha1sum` strips trailing newlines; keep the text that way.
            assert!(!SCRIPT.ends_with('\n'));
            assert!(SCRIPT.starts_with("-- gateway-wasm rate-limit sync v1\n"));
        }
    }

    both_targets_test! {
        fn every_error_return_comes_before_the_first_write() {
            let first_write = SCRIPT.find("redis.call('SET'").unwrap_or(0);
            let last_error = SCRIPT.rfind("error_reply").unwrap_or(usize::MAX);
            assert!(first_write > 0 && last_error < first_write);
        }
    }
}
