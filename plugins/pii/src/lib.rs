//! `pii`: finds personal data in the payload's text — e-mail addresses, phone numbers,
//! payment card numbers (Luhn-checked), IBANs (mod-97-checked), IPv4 and IPv6
//! addresses — and offers a fix that replaces each with a token such as `[EMAIL]`.
//!
//! One pass over the bytes marks where a match can start (digits, `+`, `(`, `@`); the
//! hand-written scanners (no regex engine) then visit only those marks, so a check of a
//! few kilobytes of prose costs microseconds.
use seam_guest::prelude::*;
use std::net::Ipv6Addr;

/// A kind of personal data.
#[derive(Deserialize, JsonSchema, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    Email,
    Phone,
    CreditCard,
    Iban,
    Ipv4,
    Ipv6,
}

impl Kind {
    const ALL: [Kind; 6] = [
        Kind::Email,
        Kind::CreditCard,
        Kind::Iban,
        Kind::Ipv6,
        Kind::Ipv4,
        Kind::Phone,
    ];

    fn code(self) -> &'static str {
        match self {
            Kind::Email => "pii.email",
            Kind::Phone => "pii.phone",
            Kind::CreditCard => "pii.credit-card",
            Kind::Iban => "pii.iban",
            Kind::Ipv4 => "pii.ipv4",
            Kind::Ipv6 => "pii.ipv6",
        }
    }

    fn token(self) -> &'static str {
        match self {
            Kind::Email => "[EMAIL]",
            Kind::Phone => "[PHONE]",
            Kind::CreditCard => "[CREDIT-CARD]",
            Kind::Iban => "[IBAN]",
            Kind::Ipv4 | Kind::Ipv6 => "[IP]",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Kind::Email => "e-mail address",
            Kind::Phone => "phone number",
            Kind::CreditCard => "payment card number",
            Kind::Iban => "IBAN",
            Kind::Ipv4 => "IPv4 address",
            Kind::Ipv6 => "IPv6 address",
        }
    }

    /// Whether `text`, as counted in `census`, can hold this kind at all: the fewest
    /// digits, `@`, `:` and `.` any match needs. Ordinary prose holds none of them, so
    /// one counting pass spares it the six scans.
    fn possible(self, census: &Census) -> bool {
        match self {
            Kind::Email => census.at >= 1,
            Kind::Phone => census.digits >= 7,
            Kind::CreditCard => census.digits >= 13,
            Kind::Iban => census.digits >= 2,
            Kind::Ipv4 => census.digits >= 4 && census.dots >= 3,
            Kind::Ipv6 => census.colons >= 2,
        }
    }

    fn scan(self, text: &str, marks: &Marks) -> Vec<(usize, usize)> {
        match self {
            Kind::Email => emails(text, &marks.ats),
            Kind::Phone => phones(text, &marks.starts),
            Kind::CreditCard => cards(text, &marks.starts),
            Kind::Iban => ibans(text, &marks.starts),
            Kind::Ipv4 => ipv4s(text, &marks.starts),
            Kind::Ipv6 => ipv6s(text),
        }
    }
}

/// How many of the bytes every kind needs a text holds.
#[derive(Default, PartialEq, Debug)]
struct Census {
    digits: usize,
    at: usize,
    colons: usize,
    dots: usize,
}

/// What one pass over a text finds: its census, and the only places most scans can
/// start at. Prose is mostly letters and spaces, so the scans then visit a handful of
/// positions instead of every byte (a byte-at-a-time loop runs 2–3× slower as wasm
/// than natively).
#[derive(Default, PartialEq, Debug)]
struct Marks {
    census: Census,
    /// Positions of every digit, `+` and `(`: where a phone number, card number or IPv4
    /// address starts, and (two bytes on) where an IBAN's check digits are.
    starts: Vec<usize>,
    /// Positions of every `@`.
    ats: Vec<usize>,
}

const DIGIT: u8 = 1;
const AT: u8 = 2;
const COLON: u8 = 4;
const DOT: u8 = 8;
const OPENS: u8 = 16;

/// What each byte counts as in [`Marks::of`]; 0 for the bytes of ordinary words.
const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = b'0';
    while c <= b'9' {
        t[c as usize] = DIGIT;
        c += 1;
    }
    t[b'@' as usize] = AT;
    t[b':' as usize] = COLON;
    t[b'.' as usize] = DOT;
    t[b'+' as usize] = OPENS;
    t[b'(' as usize] = OPENS;
    t
};

impl Marks {
    fn of(text: &str) -> Marks {
        let mut m = Marks::default();
        let b = text.as_bytes();
        let mut i = 0;
        // Eight bytes at a time: words of letters and spaces, most of prose, hold no byte
        // from `(` to `@` (where every marked byte lies) and are skipped whole; in the
        // others, only the bytes in that range are visited (a comma or a full stop, most
        // often one per word): each loop turn costs more as wasm than natively.
        while let Some(word) = b.get(i..i + 8) {
            let mut flags = between(
                u64::from_le_bytes(word.try_into().expect("8 bytes")),
                b'(' - 1,
                b'@' + 1,
            );
            while flags != 0 {
                let j = (flags.trailing_zeros() / 8) as usize;
                m.mark(i + j, word[j]);
                flags &= flags - 1;
            }
            i += 8;
        }
        for (j, &byte) in b.iter().enumerate().skip(i) {
            m.mark(j, byte);
        }
        m
    }

    fn mark(&mut self, i: usize, byte: u8) {
        match CLASS[usize::from(byte)] {
            0 => {}
            DIGIT => {
                self.census.digits += 1;
                self.starts.push(i);
            }
            OPENS => self.starts.push(i),
            AT => {
                self.census.at += 1;
                self.ats.push(i);
            }
            COLON => self.census.colons += 1,
            _ => self.census.dots += 1,
        }
    }

    /// Every position of `text` marked as a start: what the scans see when they skip
    /// nothing (the tests compare the two).
    #[cfg(test)]
    fn everywhere(text: &str) -> Marks {
        let all: Vec<usize> = (0..text.len()).collect();
        Marks {
            census: Marks::of(text).census,
            starts: all.clone(),
            ats: all,
        }
    }
}

/// Which of the eight bytes of `word` lie strictly between `low` and `high` (both below
/// 128; bytes of 128 and above never count): the top bit of each such byte's lane, and
/// nothing else. "Determine if a word has a byte between m and n", from Sean Eron
/// Anderson's Bit Twiddling Hacks; no lane borrows from or carries into another, so the
/// flags are exact for every byte.
fn between(word: u64, low: u8, high: u8) -> u64 {
    const ONES: u64 = u64::MAX / 255;
    let seven = word & (ONES * 127);
    let below_high = (ONES * (127 + u64::from(high))).wrapping_sub(seven);
    let above_low = seven + ONES * (127 - u64::from(low));
    below_high & !word & above_low & (ONES * 128)
}

/// Walks a sorted list of positions forward.
struct Cursor<'a> {
    at: &'a [usize],
}

impl Cursor<'_> {
    /// The first position at or after `i`, if any.
    fn from(&mut self, i: usize) -> Option<usize> {
        while let Some((&p, rest)) = self.at.split_first() {
            if p >= i {
                return Some(p);
            }
            self.at = rest;
        }
        None
    }
}

/// What to look for and where.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Kinds to look for; default: all of them.
    pub kinds: Option<Vec<Kind>>,
    /// Whether the verdict carries a redacted payload as its fix (default true).
    #[serde(default = "yes")]
    pub redact: bool,
    /// JSON pointer to the text to scan; default `""`, the whole payload.
    #[serde(default)]
    pub pointer: String,
}

fn yes() -> bool {
    true
}

pub struct Pii;

impl Gate for Pii {
    type Settings = Settings;
    type Prepared = Settings;
    const NAME: &'static str = "pii";
    const DESCRIPTION: &'static str = "Finds e-mail addresses, phone numbers, payment card numbers (Luhn), IBANs (mod 97) and IP addresses; the fix replaces each with a token such as [EMAIL].";

    fn check(s: &Settings, handoff: &Handoff) -> Result<Verdict, String> {
        let kinds: Vec<Kind> = match &s.kinds {
            // Scan in the fixed priority order so that overlaps resolve the same way.
            Some(wanted) => Kind::ALL
                .into_iter()
                .filter(|k| wanted.contains(k))
                .collect(),
            None => Kind::ALL.to_vec(),
        };
        let mut verdict = Verdict::new();
        let mut fixes = Vec::new();
        for t in handoff.texts(&s.pointer)? {
            let mut hits: Vec<(usize, usize, Kind)> = Vec::new();
            let marks = Marks::of(t.text);
            for &kind in kinds.iter().filter(|k| k.possible(&marks.census)) {
                for (start, end) in kind.scan(t.text, &marks) {
                    // Earlier kinds win overlaps (an IBAN's digits are not also a phone).
                    if !hits.iter().any(|&(s2, e2, _)| start < e2 && s2 < end) {
                        hits.push((start, end, kind));
                    }
                }
            }
            if hits.is_empty() {
                continue;
            }
            hits.sort_unstable_by_key(|h| h.0);
            let mut fixed = String::with_capacity(t.text.len());
            let mut last = 0;
            for &(start, end, kind) in &hits {
                verdict.push(
                    Finding::error(kind.code(), format!("{} found", kind.label()))
                        .at(&t.pointer)
                        .span(start, end),
                );
                fixed.push_str(&t.text[last..start]);
                fixed.push_str(kind.token());
                last = end;
            }
            fixed.push_str(&t.text[last..]);
            fixes.push((t.pointer.clone(), fixed));
        }
        if s.redact && !fixes.is_empty() {
            verdict = verdict.with_fix(&handoff.payload_with(fixes));
        }
        Ok(verdict)
    }
}

export_gate!(Pii);

fn is_local(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn is_domain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')
}

/// E-mail addresses around the `@`s at `ats`.
fn emails(text: &str, ats: &[usize]) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut floor = 0; // never start a match inside the previous one
    for &at in ats {
        if at < floor || b[at] != b'@' {
            continue;
        }
        let mut start = at;
        while start > floor && is_local(b[start - 1]) {
            start -= 1;
        }
        while start < at && b[start] == b'.' {
            start += 1;
        }
        let mut end = at + 1;
        while end < b.len() && is_domain(b[end]) {
            end += 1;
        }
        while end > at + 1 && matches!(b[end - 1], b'.' | b'-') {
            end -= 1;
        }
        let domain = &text[at + 1..end];
        let tld = domain.rsplit('.').next().unwrap_or("");
        let valid = start < at
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.as_bytes().windows(2).any(|w| w == b"..")
            && tld.len() >= 2
            && tld.bytes().all(|c| c.is_ascii_alphabetic());
        if valid {
            out.push((start, end));
            floor = end;
        }
    }
    out
}

/// Runs of digits joined by single separators from `seps`, starting at one of
/// `starts`; yields (start, end, digits).
fn digit_runs<'a>(
    b: &'a [u8],
    seps: &'a [u8],
    starts: &'a [usize],
) -> impl Iterator<Item = (usize, usize, Vec<u8>)> + 'a {
    let mut i = 0;
    let mut next = Cursor { at: starts };
    std::iter::from_fn(move || {
        while let Some(p) = next.from(i) {
            i = p;
            if !b[i].is_ascii_digit() || (i > 0 && (b[i - 1].is_ascii_alphanumeric())) {
                i += 1;
                continue;
            }
            let start = i;
            let mut digits = Vec::new();
            let mut end = i;
            while i < b.len() {
                if b[i].is_ascii_digit() {
                    digits.push(b[i] - b'0');
                    i += 1;
                    end = i;
                } else if seps.contains(&b[i]) && i + 1 < b.len() && b[i + 1].is_ascii_digit() {
                    i += 1;
                } else {
                    break;
                }
            }
            if end < b.len() && b[end].is_ascii_alphabetic() {
                continue;
            }
            return Some((start, end, digits));
        }
        None
    })
}

fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn cards(text: &str, starts: &[usize]) -> Vec<(usize, usize)> {
    digit_runs(text.as_bytes(), b" -", starts)
        .filter(|(_, _, d)| (13..=19).contains(&d.len()) && luhn(d))
        .map(|(s, e, _)| (s, e))
        .collect()
}

fn phones(text: &str, starts: &[usize]) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut next = Cursor { at: starts };
    while let Some(p) = next.from(i) {
        i = p;
        let begins = b[i] == b'+' || b[i] == b'(' || b[i].is_ascii_digit();
        if !begins || (i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'.')) {
            i += 1;
            continue;
        }
        let start = i;
        let plus = b[i] == b'+';
        // Separators count only between digits: a trailing space or dot is not part of it.
        let (mut digits, mut seps, mut seps_at_end, mut end) = (0usize, 0usize, 0usize, i);
        let mut j = i;
        while j < b.len() {
            match b[j] {
                c if c.is_ascii_digit() => {
                    digits += 1;
                    end = j + 1;
                    seps_at_end = seps;
                }
                b'+' if j == start => {}
                b' ' | b'-' | b'.' | b'(' | b')' => {
                    seps += 1;
                    if b[j] == b' ' && b.get(j + 1) == Some(&b' ') {
                        break;
                    }
                }
                _ => break,
            }
            j += 1;
        }
        let seps = seps_at_end;
        // A date (2024-01-05, 2024-01-05 12:30) is not a phone number.
        let date_like = end - start >= 10
            && b[start..start + 4].iter().all(u8::is_ascii_digit)
            && b[start + 4] == b'-'
            && b[start + 7] == b'-';
        let tail_ok = end >= b.len() || !(b[end].is_ascii_alphanumeric());
        let dotted_only =
            text[start..end].contains('.') && !text[start..end].contains([' ', '-', '(']);
        let plausible = (plus && (8..=15).contains(&digits))
            || ((10..=15).contains(&digits) && seps > 0)
            || (digits == 7 && end - start == 8 && b[start + 3] == b'-');
        if plausible && tail_ok && !dotted_only && !date_like {
            out.push((start, end));
            i = end;
        } else {
            i = j.max(i + 1);
        }
    }
    out
}

/// IBANs: each starts two bytes before one of `starts` (its check digits).
fn ibans(text: &str, starts: &[usize]) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut next = Cursor { at: starts };
    while let Some(p) = next.from(i + 2) {
        i = p - 2;
        if i + 4 > b.len() {
            break;
        }
        let head = b[i].is_ascii_uppercase()
            && b[i + 1].is_ascii_uppercase()
            && b[i + 2].is_ascii_digit()
            && b[i + 3].is_ascii_digit()
            && (i == 0 || !b[i - 1].is_ascii_alphanumeric());
        if !head {
            i += 1;
            continue;
        }
        // Collect alphanumerics, allowing single spaces between groups.
        let mut chars = Vec::new();
        let mut j = i;
        let mut end = i;
        while j < b.len() && chars.len() < 34 {
            if b[j].is_ascii_uppercase() || b[j].is_ascii_digit() {
                chars.push(b[j]);
                j += 1;
                end = j;
            } else if b[j] == b' '
                && j + 1 < b.len()
                && (b[j + 1].is_ascii_uppercase() || b[j + 1].is_ascii_digit())
            {
                j += 1;
            } else {
                break;
            }
        }
        // Longest prefix (from 15 characters) that passes the checksum and ends a word.
        let found = (15..=chars.len())
            .rev()
            .find(|&n| iban_ok(&chars[..n]))
            .map(|n| {
                let mut k = i;
                let mut seen = 0;
                while seen < n {
                    if b[k] != b' ' {
                        seen += 1;
                    }
                    k += 1;
                }
                k
            });
        match found {
            Some(e) if e >= b.len() || !b[e].is_ascii_alphanumeric() || e < end => {
                out.push((i, e));
                i = e;
            }
            _ => i += 1,
        }
    }
    out
}

fn iban_ok(chars: &[u8]) -> bool {
    let rearranged = chars[4..].iter().chain(&chars[..4]);
    let mut rem: u32 = 0;
    for &c in rearranged {
        let v = if c.is_ascii_digit() {
            u32::from(c - b'0')
        } else {
            u32::from(c - b'A') + 10
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

fn ipv4s(text: &str, starts: &[usize]) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut next = Cursor { at: starts };
    while let Some(p) = next.from(i) {
        i = p;
        if !b[i].is_ascii_digit()
            || (i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'.'))
        {
            i += 1;
            continue;
        }
        let mut j = i;
        let mut octets = 0;
        let mut ok = true;
        loop {
            let s = j;
            while j < b.len() && b[j].is_ascii_digit() && j - s < 4 {
                j += 1;
            }
            let part = &text[s..j];
            if part.is_empty()
                || part.len() > 3
                || (part.len() > 1 && part.starts_with('0'))
                || part.parse::<u16>().map_or(true, |v| v > 255)
            {
                ok = false;
                break;
            }
            octets += 1;
            if octets == 4 || j >= b.len() || b[j] != b'.' {
                break;
            }
            j += 1;
        }
        let tail_ok = j >= b.len()
            || !(b[j].is_ascii_alphanumeric()
                || (b[j] == b'.' && b.get(j + 1).is_some_and(u8::is_ascii_digit)));
        if ok && octets == 4 && tail_ok {
            out.push((i, j));
            i = j;
        } else {
            i += 1;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
        }
    }
    out
}

fn ipv6s(text: &str) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let is_part = |c: u8| c.is_ascii_hexdigit() || c == b':' || c == b'.';
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if !is_part(b[i]) || (i > 0 && (is_part(b[i - 1]) || b[i - 1].is_ascii_alphanumeric())) {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < b.len() && is_part(b[j]) {
            j += 1;
        }
        let mut end = j;
        // Trailing sentence punctuation is not part of the address.
        while end > i && b[end - 1] == b'.' {
            end -= 1;
        }
        let candidate = &text[i..end];
        let alnum_after = j < b.len() && b[j].is_ascii_alphanumeric();
        if candidate.matches(':').count() >= 2
            && !alnum_after
            && candidate.parse::<Ipv6Addr>().is_ok()
        {
            out.push((i, end));
        }
        i = j;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use seam_guest::testing::{check, spanned};

    fn found(text: &str) -> Vec<(String, String)> {
        let h = Handoff::text(text);
        let v = check::<Pii>(json!({}), &h).unwrap();
        v.findings
            .iter()
            .map(|f| (f.code.clone(), spanned(&h, f).unwrap().to_string()))
            .collect()
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn finds_each_kind_with_exact_spans() {
        let text = "Mail jane.doe+x@example.co.uk, call +44 20 7946 0958, card 4111 1111 1111 1111, \
                    IBAN GB82 WEST 1234 5698 7654 32, host 192.168.0.1 and 2001:db8::8a2e:370:7334.";
        assert_eq!(
            found(text),
            pairs(&[
                ("pii.email", "jane.doe+x@example.co.uk"),
                ("pii.phone", "+44 20 7946 0958"),
                ("pii.credit-card", "4111 1111 1111 1111"),
                ("pii.iban", "GB82 WEST 1234 5698 7654 32"),
                ("pii.ipv4", "192.168.0.1"),
                ("pii.ipv6", "2001:db8::8a2e:370:7334"),
            ])
        );
    }

    #[test]
    fn the_smallest_match_of_each_kind_is_still_scanned_for() {
        // Each alone, at the fewest digits, `@`, `:` and `.` its kind needs.
        for (text, code, hit) in [
            ("mail a@b.co", "pii.email", "a@b.co"),
            ("call 555-1234", "pii.phone", "555-1234"),
            (
                "card 4222 2222 2222 2",
                "pii.credit-card",
                "4222 2222 2222 2",
            ),
            ("host 1.2.3.4", "pii.ipv4", "1.2.3.4"),
            ("host ::1", "pii.ipv6", "::1"),
        ] {
            assert_eq!(found(text), pairs(&[(code, hit)]), "{text}");
        }
    }

    #[test]
    fn fix_redacts_with_tokens() {
        let h = Handoff::text("write to a@b.io or 10.0.0.1");
        let v = check::<Pii>(json!({}), &h).unwrap();
        assert_eq!(v.fix.as_deref(), Some(r#""write to [EMAIL] or [IP]""#));
        let v = check::<Pii>(json!({"redact": false}), &h).unwrap();
        assert_eq!(v.fix, None);
        assert!(!v.passed);
    }

    #[test]
    fn checksums_reject_lookalikes() {
        // Luhn fails, mod 97 fails, octet out of range, no TLD.
        assert_eq!(found("card 4111 1111 1111 1112"), vec![]);
        // The broken IBAN is no IBAN; its digit groups may still read as a phone number.
        assert!(found("GB82 WEST 1234 5698 7654 33")
            .iter()
            .all(|(code, _)| code != "pii.iban"));
        assert_eq!(found("version 1.2.3.400 and user@localhost"), vec![]);
    }

    #[test]
    fn prices_dates_and_versions_are_not_phones() {
        assert_eq!(
            found("These $89 headphones, 30-hour battery, shipped 2024-01-05, v1.2.3."),
            vec![]
        );
    }

    #[test]
    fn kinds_setting_limits_the_scan() {
        let h = Handoff::text("a@b.io 10.0.0.1");
        let v = check::<Pii>(json!({"kinds": ["ipv4"]}), &h).unwrap();
        assert_eq!(v.findings.len(), 1);
        assert_eq!(v.findings[0].code, "pii.ipv4");
    }

    #[test]
    fn json_payload_fix_keeps_structure() {
        let h = Handoff::new(json!({"to": "x@y.org", "n": 1}));
        let v = check::<Pii>(json!({}), &h).unwrap();
        assert_eq!(v.findings[0].path.as_deref(), Some("/to"));
        assert_eq!(v.fix.as_deref(), Some(r#"{"n":1,"to":"[EMAIL]"}"#));
    }

    /// A deterministic stream of texts dense in what the scanners look at.
    fn texts(n: usize) -> impl Iterator<Item = String> {
        let pieces: Vec<&str> =
            "0|1|4|7|9|12|255|256|4111|1111|2024-01-05| |  |-|.|..|,|:|::|@|+|(|)|\
                                 +44|a|e|f|x|Z|GB|GB82|WEST|DE89|3704|0044|0532|0130|00|\n|é|\
                                 mail|@example.com|a.b|192.168.0.1|2001:db8::1|ff"
                .split('|')
                .collect();
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        (0..n).map(move |_| {
            let mut text = String::new();
            let len = (state >> 59) as usize + 1;
            for _ in 0..len * 3 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                text.push_str(pieces[(state % pieces.len() as u64) as usize]);
            }
            text
        })
    }

    #[test]
    fn scanning_from_the_marks_finds_what_scanning_every_byte_finds() {
        for text in texts(20_000) {
            let marks = Marks::of(&text);
            let mut byte_by_byte = Marks::default();
            for (i, &byte) in text.as_bytes().iter().enumerate() {
                byte_by_byte.mark(i, byte);
            }
            assert_eq!(marks, byte_by_byte, "{text:?}");
            let everywhere = Marks::everywhere(&text);
            for kind in Kind::ALL {
                assert_eq!(
                    kind.scan(&text, &marks),
                    kind.scan(&text, &everywhere),
                    "{kind:?} in {text:?}"
                );
            }
        }
    }

    #[test]
    fn the_census_counts_every_byte_a_kind_needs() {
        let m = Marks::of("a@b.c: 10.0.0.1 (+44) ::1 é@");
        let c = &m.census;
        assert_eq!((c.digits, c.at, c.colons, c.dots), (8, 2, 3, 4));
        // 1, 0, 0, 0, 1 of the IPv4, `(`, `+`, 4, 4, and the `1` of `::1`.
        assert_eq!(m.starts, vec![7, 8, 10, 12, 14, 16, 17, 18, 19, 24]);
        assert_eq!(m.ats, vec![1, 28]);
    }

    /// The flags `between` should give: the top bit of every lane whose byte is in
    /// `(`..=`@`.
    fn flags_of(bytes: [u8; 8]) -> u64 {
        bytes
            .iter()
            .enumerate()
            .filter(|(_, c)| (b'('..=b'@').contains(c))
            .map(|(lane, _)| 0x80u64 << (8 * lane))
            .sum()
    }

    #[test]
    fn a_word_flags_exactly_the_bytes_between() {
        // Every byte value in every lane, against the bounds `Marks::of` uses.
        for lane in 0..8 {
            for byte in 0..=255u8 {
                let mut bytes = *b"words ok";
                bytes[lane] = byte;
                let word = u64::from_le_bytes(bytes);
                assert_eq!(
                    between(word, b'(' - 1, b'@' + 1),
                    flags_of(bytes),
                    "{byte:#04x} at {lane}"
                );
            }
        }
        // Words whose every lane varies, bytes of 128 and above and the bounds' own
        // neighbours included: no lane's flag depends on another lane.
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        for _ in 0..200_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let bytes = state.to_le_bytes();
            assert_eq!(
                between(state, b'(' - 1, b'@' + 1),
                flags_of(bytes),
                "{bytes:?}"
            );
        }
    }

    #[test]
    fn clean_text_passes() {
        let v = check::<Pii>(
            json!({}),
            &Handoff::text("Block the noise, keep the music."),
        )
        .unwrap();
        assert!(v.passed);
        assert!(v.findings.is_empty());
    }
}
