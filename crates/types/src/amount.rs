//! Money. An [`Amount`] is a whole number of tiyn (1 tenge = 100 tiyn) held in a `u64`.
//!
//! There are no floats anywhere near balances and no unchecked arithmetic: every operation that
//! can overflow or underflow returns an `Option` and the caller decides what that means.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Tiyn per tenge.
pub const TIYN_PER_TENGE: u64 = 100;

/// A non-negative amount of digital tenge, counted in tiyn.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Amount(u64);

/// Why a text could not be read as an amount of tenge.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AmountParseError {
    #[error("amount is empty")]
    Empty,
    #[error("amount `{0}` is negative: amounts of money are never below zero")]
    Negative(String),
    #[error("amount `{0}` has more than 2 decimals: the smallest unit is 1 tiyn (0.01 tenge)")]
    TooManyDecimals(String),
    #[error("amount `{0}` is not a number of tenge like `1234.56`")]
    Malformed(String),
    #[error("amount `{0}` is too large: the maximum is {max} tenge", max = Amount::MAX)]
    Overflow(String),
}

impl Amount {
    pub const ZERO: Amount = Amount(0);
    pub const MAX: Amount = Amount(u64::MAX);

    pub const fn from_tiyn(tiyn: u64) -> Self {
        Amount(tiyn)
    }

    /// Whole tenge; `None` if it does not fit.
    pub const fn from_tenge(tenge: u64) -> Option<Self> {
        match tenge.checked_mul(TIYN_PER_TENGE) {
            Some(tiyn) => Some(Amount(tiyn)),
            None => None,
        }
    }

    pub const fn tiyn(self) -> u64 {
        self.0
    }

    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    #[must_use]
    pub const fn checked_add(self, other: Amount) -> Option<Amount> {
        match self.0.checked_add(other.0) {
            Some(sum) => Some(Amount(sum)),
            None => None,
        }
    }

    #[must_use]
    pub const fn checked_sub(self, other: Amount) -> Option<Amount> {
        match self.0.checked_sub(other.0) {
            Some(difference) => Some(Amount(difference)),
            None => None,
        }
    }

    /// `self - other`, or zero when `other` is larger. For remaining headroom under a limit.
    #[must_use]
    pub const fn saturating_sub(self, other: Amount) -> Amount {
        Amount(self.0.saturating_sub(other.0))
    }
}

impl fmt::Display for Amount {
    /// Always two decimals: `1234.50`, `0.05`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:02}",
            self.0 / TIYN_PER_TENGE,
            self.0 % TIYN_PER_TENGE
        )
    }
}

impl FromStr for Amount {
    type Err = AmountParseError;

    /// Reads `1234`, `1234.5` or `1234.56` tenge. Refuses signs, spaces, exponents, separators,
    /// more than two decimals and anything that does not fit in `u64` tiyn.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.is_empty() {
            return Err(AmountParseError::Empty);
        }
        if text.starts_with('-') {
            return Err(AmountParseError::Negative(text.to_owned()));
        }
        let (whole, fraction) = match text.split_once('.') {
            Some((whole, fraction)) => (whole, Some(fraction)),
            None => (text, None),
        };
        let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(whole) {
            return Err(AmountParseError::Malformed(text.to_owned()));
        }
        let fraction_tiyn = match fraction {
            None => 0,
            Some(fraction) => {
                if !all_digits(fraction) {
                    return Err(AmountParseError::Malformed(text.to_owned()));
                }
                if fraction.len() > 2 {
                    return Err(AmountParseError::TooManyDecimals(text.to_owned()));
                }
                let value: u64 = fraction
                    .parse()
                    .map_err(|_| AmountParseError::Malformed(text.to_owned()))?;
                if fraction.len() == 1 {
                    value * 10
                } else {
                    value
                }
            }
        };
        let overflow = || AmountParseError::Overflow(text.to_owned());
        // A long run of digits overflows u64 parsing; that is an overflow, not a malformed text.
        let whole_tenge: u64 = whole.parse().map_err(|_| overflow())?;
        whole_tenge
            .checked_mul(TIYN_PER_TENGE)
            .and_then(|tiyn| tiyn.checked_add(fraction_tiyn))
            .map(Amount)
            .ok_or_else(overflow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_formats_round_trip() {
        for (text, tiyn, shown) in [
            ("0", 0, "0.00"),
            ("1", 100, "1.00"),
            ("1234.56", 123_456, "1234.56"),
            ("1234.5", 123_450, "1234.50"),
            ("0.01", 1, "0.01"),
            ("0.10", 10, "0.10"),
            ("007.00", 700, "7.00"),
            ("184467440737095516.15", u64::MAX, "184467440737095516.15"),
        ] {
            let amount: Amount = text.parse().unwrap();
            assert_eq!(amount.tiyn(), tiyn, "{text}");
            assert_eq!(amount.to_string(), shown);
            assert_eq!(shown.parse::<Amount>().unwrap(), amount);
        }
    }

    #[test]
    fn refuses_bad_text_with_the_specific_reason() {
        use AmountParseError::*;
        type Expected = fn(String) -> AmountParseError;
        let cases: &[(&str, Expected)] = &[
            ("-1", Negative),
            ("-0.01", Negative),
            ("1.234", TooManyDecimals),
            ("0.001", TooManyDecimals),
            ("1.", Malformed),
            (".5", Malformed),
            ("1,000", Malformed),
            ("+1", Malformed),
            (" 1", Malformed),
            ("1e3", Malformed),
            ("1.2.3", Malformed),
            ("abc", Malformed),
            ("184467440737095516.16", Overflow),
            ("99999999999999999999999", Overflow),
        ];
        for (text, expected) in cases {
            assert_eq!(
                text.parse::<Amount>(),
                Err(expected(text.to_string())),
                "{text}"
            );
        }
        assert_eq!("".parse::<Amount>(), Err(Empty));
    }

    #[test]
    fn arithmetic_is_checked() {
        let one = Amount::from_tiyn(1);
        assert_eq!(Amount::MAX.checked_add(one), None);
        assert_eq!(Amount::ZERO.checked_sub(one), None);
        assert_eq!(one.checked_add(one), Some(Amount::from_tiyn(2)));
        assert_eq!(Amount::from_tenge(u64::MAX), None);
        assert_eq!(Amount::from_tenge(5), Some(Amount::from_tiyn(500)));
        assert_eq!(one.saturating_sub(Amount::from_tiyn(5)), Amount::ZERO);
    }
}
