//! Roster and schedule records as the app sees them: with display names, training status and
//! upcoming stretches computed at an instant.

use crate::domain::roster::{Supporter, utc_day};
use crate::domain::schedule::{self, Override, Rotation, Schedule, Swap};
use crate::store::{Store, StoreResult};
use sallyport_protocol::AccountId;
use sallyport_protocol::roster::{OverrideBody, PersonBody, RotationBody, StretchBody, SupporterBody, SwapBody, TrainingBody};
use std::collections::HashMap;

/// Upcoming stretches shown with each rotation.
const UPCOMING: usize = 12;

/// Display names of every account (whatever the state of its devices).
#[derive(Default)]
pub struct Names(HashMap<AccountId, String>);

impl Names {
    pub async fn load(store: &dyn Store) -> StoreResult<Names> {
        Ok(Names(store.list_devices().await?.into_iter().map(|d| (d.account, d.display_name)).collect()))
    }

    pub fn of(&self, account: &AccountId) -> String {
        self.0.get(account).cloned().unwrap_or_default()
    }

    pub fn person(&self, account: AccountId) -> PersonBody {
        PersonBody { account, display_name: self.of(&account) }
    }
}

pub fn supporter(s: &Supporter, names: &Names, now: i64) -> SupporterBody {
    let today = utc_day(now);
    let training_missing = s.training_gaps(now);
    SupporterBody {
        account: s.account,
        display_name: names.of(&s.account),
        added_at: s.added_at,
        switch: s.switch,
        switch_at: s.switch_at,
        training: s
            .training
            .iter()
            .map(|t| TrainingBody {
                kind: t.kind,
                completed_at: t.completed_on.format("%Y-%m-%d").to_string(),
                expires_at: t.expires_on.format("%Y-%m-%d").to_string(),
                current: t.current_on(today),
            })
            .collect(),
        training_current: training_missing.is_empty(),
        training_missing,
    }
}

pub fn rotation(schedule: &Schedule, r: &Rotation, names: &Names, now: i64) -> RotationBody {
    let k = r.period_at(now).unwrap_or(0);
    let upcoming = schedule::segments(schedule, r, now, r.boundary(k + UPCOMING as i64))
        .into_iter()
        .filter(|s| s.end > now)
        .take(UPCOMING)
        .map(|s| StretchBody { start: s.start, end: s.end, account: s.account, display_name: names.of(&s.account), source: s.source })
        .collect();
    RotationBody {
        id: r.id.clone(),
        name: r.name.clone(),
        members: r.members.iter().map(|a| names.person(*a)).collect(),
        handoff: r.handoff.format("%H:%M").to_string(),
        time_zone: r.time_zone.name().to_owned(),
        period_days: r.period_days,
        start_date: r.start_date.format("%Y-%m-%d").to_string(),
        created_at: r.created_at,
        upcoming,
    }
}

pub fn override_(o: &Override, names: &Names) -> OverrideBody {
    OverrideBody {
        id: o.id.clone(),
        rotation: o.rotation.clone(),
        account: o.account,
        display_name: names.of(&o.account),
        start: o.start,
        end: o.end,
        created_at: o.created_at,
    }
}

pub fn swap(s: &Swap, names: &Names) -> SwapBody {
    SwapBody {
        id: s.id.clone(),
        rotation: s.rotation.clone(),
        proposer: names.person(s.proposer),
        counterpart: names.person(s.counterpart),
        proposer_shift_start: s.proposer_shift,
        counterpart_shift_start: s.counterpart_shift,
        status: s.status,
        created_at: s.created_at,
        answered_at: s.answered_at,
    }
}
