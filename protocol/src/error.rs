//! Stable error codes. The snake_case names are part of the protocol: clients match on them, so a
//! code is never renamed or reused for another meaning.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame is not valid JSON, lacks a field, or a field has the wrong form.
    MalformedFrame,
    /// The frame's `type` is not one this protocol version knows.
    UnknownFrameType,
    /// The WebSocket message exceeds `MAX_FRAME_BYTES`; the connection is closed.
    FrameTooLarge,
    /// A `send` payload exceeds `MAX_PAYLOAD_BYTES`.
    PayloadTooLarge,
    /// A `send` names no recipient, or more than `MAX_RECIPIENTS`.
    BadRecipients,
    /// A frame other than `auth` arrived before authentication.
    NotAuthenticated,
    /// `auth` arrived on a connection that is already authenticated.
    AlreadyAuthenticated,
    /// The nonce is not the one this connection was issued, or it was used already.
    InvalidNonce,
    /// The signed timestamp is too far from the server's clock.
    ClockSkew,
    /// The signature does not verify with the device's key.
    BadSignature,
    /// No such device is enrolled.
    UnknownDevice,
    /// The device was revoked; its connections are closed.
    DeviceRevoked,
    /// No such mailbox.
    UnknownMailbox,
    /// The secret given for an unlinked mailbox is wrong.
    WrongMailboxSecret,
    /// `create_mailbox` named an id that exists already.
    MailboxExists,
    /// A recipient's queue is full; nothing was stored for any recipient.
    QuotaExceeded,
    /// Too many frames in too short a time; the frame was dropped.
    RateLimited,
    /// Authentication did not complete in time; the connection is closed.
    AuthTimeout,
    /// The invitation code is unknown, already used, or expired.
    InvalidInvitation,
    /// A REST request body or parameter is invalid.
    BadRequest,
    /// The server is shutting down; reconnect (to another node) and resume.
    ShuttingDown,
    /// A newer connection of the same device took over; this one is closed. Do not reconnect
    /// automatically (another instance of this device is active).
    Superseded,
    /// A `group_send` commit is not for the group's current epoch (another member's commit won),
    /// or an application message is for an epoch too old. Process the winning commit, then retry.
    StaleEpoch,
    /// A `group_send` payload is not a group envelope holding an MLS message (plus, for a commit,
    /// an optional Welcome).
    InvalidMlsMessage,
    /// The mailbox has no KeyPackage to claim.
    NoKeyPackage,
    /// Too many or too large KeyPackages in one publish, or the mailbox's stock is full.
    KeyPackageLimit,
    /// A REST request is not signed by an enrolled device, or its signature is stale or replayed.
    Unauthorized,
    /// The signing device's account lacks the role the request needs.
    Forbidden,
    /// The REST resource named in the request does not exist.
    NotFound,
    /// The server could not complete the request; nothing was acknowledged, so retry.
    Internal,
    /// The account is not on the peer supporter roster.
    NotOnRoster,
    /// The peer supporter's required training is not all recorded and current, so they cannot be
    /// put on call.
    TrainingNotCurrent,
    /// The time given is not the start of a shift the named supporter holds (or that shift is over).
    NotAShift,
    /// The shift swap was already accepted, declined or cancelled.
    SwapNotPending,
    /// Another peer supporter accepted this support request first.
    AlreadyClaimed,
    /// The support request has not been accepted by anyone, so there is nothing to hand off.
    NotClaimed,
    /// The device waits for an existing device of its account to approve it; until then it cannot
    /// publish KeyPackages or take support requests.
    DevicePending,
    /// A `group_send` for a group whose members the server knows (from its last accepted commit),
    /// from a connection that reads none of their mailboxes: the sender is not (or no longer) a
    /// member. Nothing was stored.
    NotAMember,
    /// The connection already reads as many mailboxes as one connection may
    /// (`MAX_MAILBOXES_PER_CONNECTION`); nothing was subscribed or created.
    MailboxLimit,
    /// A push subscription's endpoint is well-formed but at a host this server does not push to
    /// (only the browsers' push services, and hosts the operator adds). Nothing was stored.
    PushServiceNotAllowed,
    /// The answer token from a page is unknown or used (a token answers once), or its incident
    /// is resolved. Answer from the app instead.
    InvalidAnswerToken,
    /// The incident is resolved: nothing more can be answered or paged.
    IncidentResolved,
    /// A debrief's `PUT` named a revision that is not its current one (another coordinator's
    /// change came first, or `0` for an id that exists): read it again and retry.
    StaleRevision,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MalformedFrame => "malformed_frame",
            Self::UnknownFrameType => "unknown_frame_type",
            Self::FrameTooLarge => "frame_too_large",
            Self::PayloadTooLarge => "payload_too_large",
            Self::BadRecipients => "bad_recipients",
            Self::NotAuthenticated => "not_authenticated",
            Self::AlreadyAuthenticated => "already_authenticated",
            Self::InvalidNonce => "invalid_nonce",
            Self::ClockSkew => "clock_skew",
            Self::BadSignature => "bad_signature",
            Self::UnknownDevice => "unknown_device",
            Self::DeviceRevoked => "device_revoked",
            Self::UnknownMailbox => "unknown_mailbox",
            Self::WrongMailboxSecret => "wrong_mailbox_secret",
            Self::MailboxExists => "mailbox_exists",
            Self::QuotaExceeded => "quota_exceeded",
            Self::RateLimited => "rate_limited",
            Self::AuthTimeout => "auth_timeout",
            Self::InvalidInvitation => "invalid_invitation",
            Self::BadRequest => "bad_request",
            Self::ShuttingDown => "shutting_down",
            Self::Superseded => "superseded",
            Self::StaleEpoch => "stale_epoch",
            Self::InvalidMlsMessage => "invalid_mls_message",
            Self::NoKeyPackage => "no_key_package",
            Self::KeyPackageLimit => "key_package_limit",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::Internal => "internal",
            Self::NotOnRoster => "not_on_roster",
            Self::TrainingNotCurrent => "training_not_current",
            Self::NotAShift => "not_a_shift",
            Self::SwapNotPending => "swap_not_pending",
            Self::AlreadyClaimed => "already_claimed",
            Self::NotClaimed => "not_claimed",
            Self::DevicePending => "device_pending",
            Self::NotAMember => "not_a_member",
            Self::MailboxLimit => "mailbox_limit",
            Self::PushServiceNotAllowed => "push_service_not_allowed",
            Self::InvalidAnswerToken => "invalid_answer_token",
            Self::IncidentResolved => "incident_resolved",
            Self::StaleRevision => "stale_revision",
        }
    }

    /// Whether the server closes the WebSocket after sending this error.
    pub fn closes_connection(self) -> bool {
        matches!(
            self,
            Self::FrameTooLarge
                | Self::InvalidNonce
                | Self::ClockSkew
                | Self::BadSignature
                | Self::UnknownDevice
                | Self::DeviceRevoked
                | Self::AuthTimeout
                | Self::ShuttingDown
                | Self::Superseded
        )
    }

    /// A short human explanation, safe to show to a user or log.
    pub fn default_message(self) -> &'static str {
        match self {
            Self::MalformedFrame => "the frame could not be read",
            Self::UnknownFrameType => "unknown frame type",
            Self::FrameTooLarge => "the frame is larger than 131072 bytes",
            Self::PayloadTooLarge => "the payload is larger than 65536 bytes",
            Self::BadRecipients => "a message needs between 1 and 256 recipient mailboxes",
            Self::NotAuthenticated => "authenticate first",
            Self::AlreadyAuthenticated => "this connection is already authenticated",
            Self::InvalidNonce => "the nonce was not issued to this connection or was already used",
            Self::ClockSkew => "the device clock is too far from the server clock",
            Self::BadSignature => "the signature does not verify",
            Self::UnknownDevice => "this device is not enrolled",
            Self::DeviceRevoked => "this device has been revoked",
            Self::UnknownMailbox => "no such mailbox",
            Self::WrongMailboxSecret => "wrong mailbox secret",
            Self::MailboxExists => "that mailbox id is taken",
            Self::QuotaExceeded => "a recipient's queue is full; try again later",
            Self::RateLimited => "too many frames; slow down",
            Self::AuthTimeout => "authentication took too long",
            Self::InvalidInvitation => "this invitation is unknown, used or expired",
            Self::BadRequest => "the request is invalid",
            Self::ShuttingDown => "the server is shutting down",
            Self::Superseded => "a newer connection of this device took over",
            Self::StaleEpoch => "the group has moved to a newer epoch; process its commit and retry",
            Self::InvalidMlsMessage => "the payload is not a valid MLS group envelope",
            Self::NoKeyPackage => "the mailbox has no KeyPackage to claim",
            Self::KeyPackageLimit => "too many or too large KeyPackages",
            Self::Unauthorized => "the request is not signed by an enrolled device, or the signature is stale or replayed",
            Self::Forbidden => "your account is not allowed to do this",
            Self::NotFound => "not found",
            Self::Internal => "internal error; nothing was stored, try again",
            Self::NotOnRoster => "this account is not on the peer supporter roster",
            Self::TrainingNotCurrent => "this peer supporter's required training is not all current",
            Self::NotAShift => "that is not the start of a current or future shift of that peer supporter",
            Self::SwapNotPending => "this swap was already answered or cancelled",
            Self::AlreadyClaimed => "another peer supporter has already accepted this request",
            Self::NotClaimed => "nobody has accepted this request yet, so it cannot be handed off",
            Self::DevicePending => "this device waits for approval from another device of the account",
            Self::NotAMember => "this connection reads no mailbox of the group's members",
            Self::MailboxLimit => "this connection reads as many mailboxes as one connection may",
            Self::PushServiceNotAllowed => "this server does not push to that push service",
            Self::InvalidAnswerToken => "this answer link is unknown or used, or the incident is resolved: answer in the app",
            Self::IncidentResolved => "the incident is resolved",
            Self::StaleRevision => "the debrief was changed since you read it; read it again and retry",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_str_matches_serde_name() {
        for code in [ErrorCode::MalformedFrame, ErrorCode::WrongMailboxSecret, ErrorCode::Internal, ErrorCode::NotAMember, ErrorCode::PushServiceNotAllowed, ErrorCode::StaleRevision] {
            assert_eq!(serde_json::to_string(&code).unwrap(), format!("\"{}\"", code.as_str()));
        }
    }
}
