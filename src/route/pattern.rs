//! Matcher items parsed once: error-code patterns and Sid globs.

use super::{CODE_FORMS, SID_FORMS};
use crate::event::{ErrorCode, Sid};
use std::fmt::{self, Write as _};
use wildmatch::WildMatch;

/// Why a matcher item in `config.toml` was rejected. Displays as the part after
/// `routes[i] ("name").key[j]: `.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("{raw:?} is empty; expected {expected}")]
    Empty { raw: String, expected: &'static str },
    #[error("{raw:?} is not a code, a wildcard like \"112xx\" or a range like \"30001-30010\"")]
    NotACode { raw: String },
    #[error(
        "{raw:?} is not a code, a wildcard like \"112xx\" or a range like \"30001-30010\" \
         (a wildcard has 5 or 6 positions, like Twilio's codes)"
    )]
    WildcardLength { raw: String },
    #[error("{raw:?} can never match: error codes have no leading zero")]
    LeadingZero { raw: String },
    #[error("{raw:?} is a reversed range: {lo} is above {hi}")]
    ReversedRange {
        raw: String,
        lo: ErrorCode,
        hi: ErrorCode,
    },
    #[error(
        "{raw:?} is neither a Sid (two letters and 32 hex digits) nor a glob like \"PN*\" \
         or \"CA??12*\" (letters, digits, * and ? only)"
    )]
    NotASid { raw: String },
    #[error("{raw:?} is not a level; expected error, warning, info or debug")]
    NotALevel { raw: String },
}

/// One `error_codes` item: `"11200"`, `"112xx"` or `"30001-30010"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodePattern {
    Exact(ErrorCode),
    /// Digit wildcard; matches codes with exactly as many digits as it has positions.
    Wildcard(DigitWildcard),
    /// Inclusive, `lo <= hi`.
    Range {
        lo: ErrorCode,
        hi: ErrorCode,
    },
}

/// `"112xx"`: fixed digits and `x` positions (any digit), most significant first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigitWildcard {
    positions: [Option<u8>; 6],
    len: u8,
    /// Smallest code with `len` digits (`10^(len-1)`).
    min: u32,
}

impl DigitWildcard {
    fn matches(&self, code: u32) -> bool {
        if code < self.min {
            return false;
        }
        let mut rest = code;
        for pos in self.positions[..self.len as usize].iter().rev() {
            let digit = (rest % 10) as u8;
            rest /= 10;
            if pos.is_some_and(|fixed| fixed != digit) {
                return false;
            }
        }
        rest == 0
    }
}

impl CodePattern {
    pub fn parse(raw: &str) -> Result<CodePattern, PatternError> {
        let s = raw.trim();
        let not_a_code = || PatternError::NotACode { raw: raw.into() };
        if s.is_empty() {
            return Err(PatternError::Empty {
                raw: raw.into(),
                expected: CODE_FORMS,
            });
        }
        if let Some((lo, hi)) = s.split_once('-') {
            let lo = ErrorCode::parse(lo).ok_or_else(not_a_code)?;
            let hi = ErrorCode::parse(hi).ok_or_else(not_a_code)?;
            if lo > hi {
                return Err(PatternError::ReversedRange {
                    raw: raw.into(),
                    lo,
                    hi,
                });
            }
            return Ok(CodePattern::Range { lo, hi });
        }
        if s.bytes().any(|b| b == b'x' || b == b'X') {
            if !s
                .bytes()
                .all(|b| b.is_ascii_digit() || b == b'x' || b == b'X')
            {
                return Err(not_a_code());
            }
            if !(5..=6).contains(&s.len()) {
                return Err(PatternError::WildcardLength { raw: raw.into() });
            }
            if s.starts_with('0') {
                return Err(PatternError::LeadingZero { raw: raw.into() });
            }
            let mut positions = [None; 6];
            for (slot, b) in positions.iter_mut().zip(s.bytes()) {
                *slot = b.is_ascii_digit().then(|| b - b'0');
            }
            let len = s.len() as u8;
            return Ok(CodePattern::Wildcard(DigitWildcard {
                positions,
                len,
                min: 10u32.pow(u32::from(len) - 1),
            }));
        }
        ErrorCode::parse(s)
            .map(CodePattern::Exact)
            .ok_or_else(not_a_code)
    }

    pub fn matches(&self, code: ErrorCode) -> bool {
        match self {
            CodePattern::Exact(c) => *c == code,
            CodePattern::Wildcard(w) => w.matches(code.0),
            CodePattern::Range { lo, hi } => *lo <= code && code <= *hi,
        }
    }
}

impl fmt::Display for CodePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodePattern::Exact(c) => write!(f, "{c}"),
            CodePattern::Range { lo, hi } => write!(f, "{lo}-{hi}"),
            CodePattern::Wildcard(w) => {
                w.positions[..w.len as usize]
                    .iter()
                    .try_for_each(|p| match p {
                        Some(d) => write!(f, "{d}"),
                        None => f.write_char('x'),
                    })
            }
        }
    }
}

/// One Sid matcher item: an exact Sid or a case-sensitive glob with `*` and `?`.
#[derive(Debug, Clone, PartialEq)]
pub enum SidPattern {
    Exact(String),
    Glob { pattern: String, glob: WildMatch },
}

impl SidPattern {
    pub fn parse(raw: &str) -> Result<SidPattern, PatternError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(PatternError::Empty {
                raw: raw.into(),
                expected: SID_FORMS,
            });
        }
        let is_glob = s.contains(['*', '?']);
        if is_glob
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'*' || b == b'?')
        {
            return Ok(SidPattern::Glob {
                pattern: s.into(),
                glob: WildMatch::new(s),
            });
        }
        match Sid::parse(s) {
            Ok(sid) if !is_glob => Ok(SidPattern::Exact(sid.as_str().into())),
            _ => Err(PatternError::NotASid { raw: raw.into() }),
        }
    }

    pub fn matches(&self, sid: &str) -> bool {
        match self {
            SidPattern::Exact(s) => s == sid,
            SidPattern::Glob { glob, .. } => glob.matches(sid),
        }
    }
}

impl fmt::Display for SidPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SidPattern::Exact(s) | SidPattern::Glob { pattern: s, .. } => f.write_str(s),
        }
    }
}
