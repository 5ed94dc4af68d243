//! What the app shows before anyone signs in (`GET /v1/config`): the crisis lines — the national
//! ones and the agency's EAP line an administrator sets — the confidentiality notice shown before a
//! first support request, and the VAPID key browsers subscribe with.

use super::{Outcome, WorkflowError, require};
use crate::store::{DeviceRecord, Store};
use sallyport_protocol::rest::{ConfigBody, CrisisLine, Role};

/// Settings key of the agency's EAP line (JSON [`CrisisLine`]; empty: none).
pub const EAP_LINE_SETTING: &str = "eap_line";
/// Settings key of the administrator's confidentiality notice (UTF-8 text).
pub const CONFIDENTIALITY_NOTICE_SETTING: &str = "confidentiality_notice";

fn line(name: &str, description: &str, call: &str, text: Option<&str>) -> CrisisLine {
    CrisisLine { name: name.to_owned(), description: description.to_owned(), call: Some(call.to_owned()), text: text.map(str::to_owned) }
}

/// The national lines every deployment shows.
pub fn default_crisis_lines() -> Vec<CrisisLine> {
    vec![
        line("988 Suicide & Crisis Lifeline", "Call or text, 24/7", "988", Some("988")),
        line("Safe Call Now", "Confidential line for public safety staff, 24/7", "1-206-459-3020", None),
        line("CopLine", "Peer line for law enforcement and corrections, 24/7", "1-800-267-5463", None),
    ]
}

/// The default notice shown before a person's first support request; administrators replace it.
pub const DEFAULT_CONFIDENTIALITY_NOTICE: &str = "What you say to a peer supporter stays between you and them. \
Messages are end-to-end encrypted: the agency, the administrators and the people who run this server cannot \
read them, and the server does not record who asked for help. Peer supporters keep conversations confidential, \
with these exceptions, where they must get help or report: a risk that you will seriously harm yourself or \
someone else; abuse or neglect of a child or a vulnerable adult; a crime that must be reported by law; and a \
court order. A peer supporter is not a therapist; they can help you reach one.";

/// `GET /v1/config`.
pub async fn config(store: &dyn Store, vapid_public_key: &str) -> Outcome<ConfigBody> {
    let mut crisis_lines = default_crisis_lines();
    if let Some(bytes) = store.setting(EAP_LINE_SETTING).await?.filter(|b| !b.is_empty()) {
        match serde_json::from_slice::<CrisisLine>(&bytes) {
            Ok(eap) => crisis_lines.push(eap),
            Err(_) => tracing::warn!("the stored EAP line is unreadable; showing the national lines only"),
        }
    }
    let confidentiality_notice = match store.setting(CONFIDENTIALITY_NOTICE_SETTING).await? {
        Some(bytes) => String::from_utf8(bytes).unwrap_or_else(|_| DEFAULT_CONFIDENTIALITY_NOTICE.to_owned()),
        None => DEFAULT_CONFIDENTIALITY_NOTICE.to_owned(),
    };
    Ok(ConfigBody { crisis_lines, vapid_public_key: vapid_public_key.to_owned(), confidentiality_notice })
}

fn valid_phone(number: &str) -> bool {
    let digits = number.chars().filter(char::is_ascii_digit).count();
    (3..=20).contains(&digits) && number.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c))
}

/// The EAP line as an administrator may set it: a name (1–100 characters), a description (at
/// most 200), a number to call, and optionally one to text; trimmed.
pub fn checked_eap_line(mut eap: CrisisLine) -> Outcome<CrisisLine> {
    eap.name = eap.name.trim().to_owned();
    eap.description = eap.description.trim().to_owned();
    let text_ok = |s: &str, max: usize| s.chars().count() <= max && !s.chars().any(char::is_control);
    if eap.name.is_empty() || !text_ok(&eap.name, 100) || !text_ok(&eap.description, 200) {
        return Err(WorkflowError::Invalid("name must be 1 to 100 characters and description at most 200".into()));
    }
    let Some(call) = eap.call.as_deref().map(str::trim).filter(|c| valid_phone(c)) else {
        return Err(WorkflowError::Invalid("call must be a phone number (digits, spaces, + - ( ) .)".into()));
    };
    eap.call = Some(call.to_owned());
    match eap.text.as_deref().map(str::trim) {
        None | Some("") => eap.text = None,
        Some(text) if valid_phone(text) => eap.text = Some(text.to_owned()),
        Some(_) => return Err(WorkflowError::Invalid("text must be a phone number (digits, spaces, + - ( ) .)".into())),
    }
    Ok(eap)
}

/// `PUT /v1/admin/eap-line` (administrators): sets the agency's EAP line; `None` removes it.
/// Answers the new configuration.
pub async fn set_eap_line(store: &dyn Store, vapid_public_key: &str, caller: &DeviceRecord, eap: Option<CrisisLine>) -> Outcome<ConfigBody> {
    require(caller, Role::Admin)?;
    let stored = match eap {
        Some(eap) => serde_json::to_vec(&checked_eap_line(eap)?).expect("a crisis line serialises"),
        None => Vec::new(),
    };
    store.set_setting(EAP_LINE_SETTING, &stored).await?;
    config(store, vapid_public_key).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eap(call: Option<&str>, text: Option<&str>) -> CrisisLine {
        CrisisLine { name: " Agency EAP ".into(), description: "".into(), call: call.map(Into::into), text: text.map(Into::into) }
    }

    #[test]
    fn an_eap_line_needs_a_number_to_call() {
        let ok = checked_eap_line(eap(Some(" +1 (555) 010-0100 "), Some(" "))).unwrap();
        assert_eq!((ok.name.as_str(), ok.call.as_deref(), ok.text), ("Agency EAP", Some("+1 (555) 010-0100"), None));
        assert!(checked_eap_line(eap(None, None)).is_err());
        assert!(checked_eap_line(eap(Some("12"), None)).is_err(), "too few digits");
        assert!(checked_eap_line(eap(Some("555-0100 ext 9"), None)).is_err(), "letters");
        assert!(checked_eap_line(eap(Some("5550100"), Some("abc"))).is_err());
        assert_eq!(checked_eap_line(eap(Some("5550100"), Some("5550101"))).unwrap().text.as_deref(), Some("5550101"));
    }
}
