//! The one rule for names people type (display names, rotation names): 1 to 100 characters once
//! trimmed, no control characters.

/// Longest name, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// `value` trimmed, if it is a valid name; else the message to show, naming `field`.
pub fn check_name(value: &str, field: &str) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() || value.chars().count() > MAX_NAME_CHARS || value.chars().any(char::is_control) {
        return Err(format!("{field} must be 1 to {MAX_NAME_CHARS} characters, without control characters"));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_bounded_and_printable() {
        assert_eq!(check_name("  Dana Reyes ", "display_name").unwrap(), "Dana Reyes");
        assert_eq!(check_name(&"é".repeat(100), "name").unwrap().chars().count(), 100);
        assert!(check_name(&"é".repeat(101), "name").is_err());
        assert!(check_name("   ", "name").is_err());
        assert!(check_name("a\u{7}b", "name").is_err());
        assert_eq!(
            check_name("", "display_name").unwrap_err(),
            "display_name must be 1 to 100 characters, without control characters"
        );
    }
}
