//! The grammar of a `resource.Quantity` (`500m`, `1.5Gi`, `2e3`), which the API server
//! checks when it decodes one.

/// What the API server answers for a malformed quantity.
pub const FORMAT_ERROR: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

/// Whether `s` is a quantity: a signed decimal number, then a binary (`Ki`..`Ei`) or
/// decimal (`m`, `k`, `M`..`E`) suffix or an exponent (`e3`, `E-2`).
pub fn parses(s: &str) -> bool {
    let rest = s.strip_prefix(['+', '-']).unwrap_or(s);
    let number_len = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(number_len);
    let digits = number.chars().filter(char::is_ascii_digit).count();
    if digits == 0 || number.matches('.').count() > 1 {
        return false;
    }
    match suffix {
        "" | "m" | "k" | "M" | "G" | "T" | "P" | "E" => true,
        "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" => true,
        _ => suffix
            .strip_prefix(['e', 'E'])
            .map(|e| e.strip_prefix(['+', '-']).unwrap_or(e))
            .is_some_and(|e| !e.is_empty() && e.chars().all(|c| c.is_ascii_digit())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        for ok in [
            "1", "500m", "1.5Gi", "0.5", ".5", "5.", "-1k", "2e3", "1E-2", "+3Mi",
        ] {
            assert!(parses(ok), "{ok}");
        }
        for bad in ["", "lots", "1.2.3", "1Gb", "e3", "1e", "Mi", "1 Gi"] {
            assert!(!parses(bad), "{bad}");
        }
    }
}
