//! Conversions shared by the exports: JS errors, plain objects, ids from their text forms.

use js_sys::{Object, Reflect};
use wasm_bindgen::{JsError, JsValue};

/// A JS `Error` carrying `error`'s message.
pub fn js_error(error: impl std::fmt::Display) -> JsError {
    JsError::new(&error.to_string())
}

/// A plain object with these properties, in this order.
pub fn object(fields: &[(&str, JsValue)]) -> Object {
    let object = Object::new();
    for (name, value) in fields {
        // Setting a property on a fresh plain object cannot fail.
        let _ = Reflect::set(&object, &JsValue::from_str(name), value);
    }
    object
}

/// An id, key or secret from its protocol text form (unpadded base64url).
pub fn parse<T>(what: &str, text: &str, parse: impl FnOnce(&str) -> Option<T>) -> Result<T, JsError> {
    parse(text).ok_or_else(|| JsError::new(&format!("{what} is not a valid id: {text:?}")))
}

/// A JS number from a u64 that the protocol keeps below 2^53 (sequence numbers, counts).
pub fn number(value: u64) -> JsValue {
    JsValue::from_f64(value as f64)
}

/// A u64 from a JS number: a non-negative integer no larger than 2^53.
pub fn whole(what: &str, value: f64) -> Result<u64, JsError> {
    if value.fract() == 0.0 && (0.0..=9_007_199_254_740_992.0).contains(&value) {
        Ok(value as u64)
    } else {
        // No `{value}`: formatting an f64 would link 10 KB of float printing.
        Err(JsError::new(&format!("{what} must be a non-negative integer")))
    }
}
