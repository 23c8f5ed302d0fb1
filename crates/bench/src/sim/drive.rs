//! Runs the year: a queue of what each dossier does next, in simulated time. At each moment the
//! driver moves every process's clock there (and waits until all have seen it), does what is due
//! then — submissions at intake, officers' steps at workflow, supplements and withdrawals at
//! intake — concurrently, lets the services settle (outboxes empty, consumers caught up), and
//! queues what each dossier does next. Each act is keyed, so a retry is answered, not repeated.

use super::calls::{action, ts, vn};
use super::officers::{DESK_DEPARTMENT, People};
use super::plan::{Fate, Planned};
use super::settle::Settle;
use super::truth::Truth;
use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use futures::StreamExt;
use motcua_calendar::{Calendar, Span};
use motcua_platform::SimulatedTime;
use motcua_platform::auth::Role;
use motcua_proto::common::{DossierStatus, Outcome};
use motcua_proto::intake::{RequestWithdrawalRequest, SubmitSupplementRequest, SubmittedDocument};
use motcua_proto::workflow::{
    Case, ClaimTaskRequest, DecideWithdrawalRequest, ForwardStepRequest, RecordResultRequest,
    RefuseCaseRequest, RequestSupplementRequest, ReturnResultRequest,
};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Mutex;
use std::time::Duration as Wall;

/// What a dossier does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Act {
    Submit,
    /// An officer works the current step (or asks, refuses, records, per the plan).
    Work,
    /// The applicant hands in the supplement at the desk.
    Supplement,
    /// The desk approves the withdrawal the applicant asked for.
    Withdraw,
    /// The desk hands the result over.
    Return,
    /// The desk records the payment of a financial obligation.
    Pay,
    /// The applicant looks the dossier up on the public page (a side trip: its life goes on).
    Follow,
    /// The applicant asks by SMS through the gateway (a side trip too).
    Ask,
}

/// One dossier's plan and what has happened to it.
#[derive(Debug)]
pub(crate) struct Dossier {
    pub(super) plan: Planned,
    pub(super) truth: Truth,
    asked_supplement: bool,
    asked_withdrawal: bool,
    pub(super) asked_obligation: bool,
    pub(super) apologised: bool,
}

/// What the run counted while it went.
#[derive(Debug, Default)]
pub struct Driven {
    pub truths: Vec<Truth>,
    pub moments: u64,
    pub acts: u64,
    /// Per RPC: wall latencies.
    pub latencies: std::collections::BTreeMap<&'static str, Vec<Wall>>,
    /// Where the wall time went: moving the clock, the acts, waiting for the services to settle.
    pub spent_setting: Wall,
    pub spent_acting: Wall,
    pub spent_settling: Wall,
    /// Public page lookups made, and where the page did not show what workflow had.
    pub web_lookups: u64,
    pub web_mismatches: Vec<String>,
    /// SMS lookups the gateway handed in.
    pub sms_lookups: u64,
}

pub struct Driver<'a> {
    /// Faults are expected (the chaos run): calls a restart mends are tried again.
    pub faults: bool,
    /// Every call's wall time, by RPC ([`Driver::call`] records it).
    pub latencies: Latencies,
    pub people: &'a People,
    pub time: &'a SimulatedTime,
    pub settle: &'a Settle,
    pub cal: &'a Calendar,
    pub concurrency: usize,
    pub seed: u64,
    /// The grid of simulated time acts fall on (the profile's `tick_minutes`).
    pub tick: Duration,
    /// Called after each moment with (simulated time, dossiers done, acts so far).
    pub progress: &'a (dyn Fn(DateTime<Utc>, usize, u64) + Sync),
}

impl std::fmt::Debug for Driver<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

/// When and what a dossier does next; None when its life is over.
pub(super) type Next = Option<(DateTime<Utc>, Act)>;

/// Per RPC ("service.Method"): the wall time of each call, its retries included.
pub(super) type Latencies = Mutex<std::collections::BTreeMap<&'static str, Vec<Wall>>>;

impl Driver<'_> {
    pub async fn run(&self, plans: Vec<Planned>) -> anyhow::Result<Driven> {
        let mut queue: BinaryHeap<Reverse<(DateTime<Utc>, usize, Act)>> = plans
            .iter()
            .enumerate()
            .map(|(i, p)| Reverse((p.arrives, i, Act::Submit)))
            .collect();
        let dossiers: Vec<Mutex<Dossier>> = plans
            .into_iter()
            .map(|plan| {
                Mutex::new(Dossier {
                    truth: Truth {
                        field: plan.field.clone(),
                        ..Default::default()
                    },
                    plan,
                    asked_supplement: false,
                    asked_withdrawal: false,
                    asked_obligation: false,
                    apologised: false,
                })
            })
            .collect();
        let citizens: super::citizens::Citizens = Mutex::new((0u64, Vec::new(), 0u64));
        let (mut moments, mut acts, mut done) = (0u64, 0u64, 0usize);
        let mut spent = (Wall::ZERO, Wall::ZERO, Wall::ZERO);
        while let Some(Reverse((at, _, _))) = queue.peek().copied() {
            let mut batch = Vec::new();
            while let Some(Reverse((t, i, act))) = queue.peek().copied()
                && t == at
            {
                queue.pop();
                batch.push((i, act));
            }
            let t = std::time::Instant::now();
            self.time
                .set(at, Wall::from_secs(60))
                .await
                .with_context(|| format!("moving the simulated time to {at}"))?;
            spent.0 += t.elapsed();
            let t = std::time::Instant::now();
            moments += 1;
            acts += batch.len() as u64;
            let results: Vec<anyhow::Result<(usize, Act, Next)>> = futures::stream::iter(batch)
                .map(|(i, act)| {
                    let (dossiers, citizens) = (&dossiers, &citizens);
                    async move {
                        let next = self
                            .act(&dossiers[i], act, at, citizens)
                            .await
                            .with_context(|| format!("dossier #{i}, {act:?} at {at}"))?;
                        Ok((i, act, next))
                    }
                })
                .buffer_unordered(self.concurrency.max(1))
                .collect()
                .await;
            for r in results {
                let (i, did, next) = r?;
                if did == Act::Submit {
                    // The applicant's side trips, beside the dossier's life.
                    let plan = &dossiers[i].lock().unwrap_or_else(|p| p.into_inner()).plan;
                    if plan.web_lookup {
                        queue.push(Reverse((
                            self.working_later(at, Span::Days(1))?,
                            i,
                            Act::Follow,
                        )));
                    }
                    if plan.sms_lookup {
                        queue.push(Reverse((
                            self.working_later(at, Span::Days(2))?,
                            i,
                            Act::Ask,
                        )));
                    }
                }
                match next {
                    Some((next, act)) => {
                        queue.push(Reverse((next.max(at + Duration::minutes(1)), i, act)));
                    }
                    None if matches!(did, Act::Follow | Act::Ask) => {}
                    None => done += 1,
                }
            }
            spent.1 += t.elapsed();
            let t = std::time::Instant::now();
            self.settle.wait(at).await?;
            spent.2 += t.elapsed();
            (self.progress)(at, done, acts);
        }
        let citizens = citizens.into_inner().unwrap_or_else(|p| p.into_inner());
        Ok(Driven {
            truths: dossiers
                .into_iter()
                .map(|d| d.into_inner().unwrap_or_else(|p| p.into_inner()).truth)
                .collect(),
            moments,
            acts,
            latencies: std::mem::take(
                &mut *self.latencies.lock().unwrap_or_else(|p| p.into_inner()),
            ),
            spent_setting: spent.0,
            spent_acting: spent.1,
            spent_settling: spent.2,
            web_lookups: citizens.0,
            web_mismatches: citizens.1,
            sms_lookups: citizens.2,
        })
    }

    /// Does `act` for one dossier at `now`; returns when and what it does next (None: its life
    /// is over).
    async fn act(
        &self,
        dossier: &Mutex<Dossier>,
        act: Act,
        now: DateTime<Utc>,
        citizens: &super::citizens::Citizens,
    ) -> anyhow::Result<Next> {
        let (plan, truth) = {
            let d = dossier.lock().unwrap_or_else(|p| p.into_inner());
            (d.plan.clone(), d.truth.clone())
        };
        let key = |what: &str| format!("sim-{}-{}-{what}", self.seed, plan.n);
        match act {
            Act::Submit => {
                let receipt = self.submit(&plan, &key("submit")).await?;
                let mut d = dossier.lock().unwrap_or_else(|p| p.into_inner());
                d.truth.code = receipt.dossier_code.clone();
                d.truth.lookup_token = receipt.lookup_token.clone();
                d.truth.channel = Some(plan.channel);
                d.truth.received_at = receipt.received_at.map(ts);
                d.truth.due_at = receipt.due_at.map(ts);
                d.truth.status = Some(DossierStatus::Received);
                Ok(Some((self.later(now, Duration::minutes(30)), Act::Work)))
            }
            Act::Supplement => {
                // The first document the procedure lists (the plan asks supplements only of
                // procedures that list documents).
                let d = plan
                    .procedure
                    .documents
                    .first()
                    .context("the procedure lists no document")?;
                let doc = SubmittedDocument {
                    key: d.key.clone(),
                    form: d.form,
                    copies: d.copies.max(1),
                    ..Default::default()
                };
                let req = SubmitSupplementRequest {
                    dossier_code: truth.code.clone(),
                    documents: vec![doc],
                    idempotency_key: key("supplement"),
                };
                // Intake learns of the request from workflow's event: the services settled before
                // this moment, so it knows.
                self.call("intake.SubmitSupplement", || {
                    let (mut desk, req) = (self.people.desk_intake(plan.officer), req.clone());
                    async move { desk.submit_supplement(req).await }
                })
                .await?;
                Ok(Some((self.later(now, Duration::minutes(30)), Act::Work)))
            }
            Act::Withdraw => {
                let case = self.case(&truth.code).await?;
                let desk = self
                    .people
                    .officer(Role::Desk, DESK_DEPARTMENT, plan.officer);
                let c = self
                    .call("workflow.DecideWithdrawal", || {
                        let (mut client, req) = (
                            desk.clone(),
                            DecideWithdrawalRequest {
                                dossier_code: truth.code.clone(),
                                action: action(case.version, key("withdraw")),
                                approve: true,
                            },
                        );
                        async move { client.decide_withdrawal(req).await }
                    })
                    .await?
                    .case
                    .context("no case")?;
                self.ended(dossier, &c, now, None);
                Ok(None)
            }
            Act::Return => {
                let case = self.case(&truth.code).await?;
                let desk = self
                    .people
                    .officer(Role::Desk, DESK_DEPARTMENT, plan.officer);
                let c = self
                    .call("workflow.ReturnResult", || {
                        let (mut client, req) = (
                            desk.clone(),
                            ReturnResultRequest {
                                dossier_code: truth.code.clone(),
                                action: action(case.version, key("return")),
                            },
                        );
                        async move { client.return_result(req).await }
                    })
                    .await?
                    .case
                    .context("no case")?;
                let mut d = dossier.lock().unwrap_or_else(|p| p.into_inner());
                d.truth.status = DossierStatus::try_from(c.status).ok();
                Ok(None)
            }
            Act::Work => self.work(dossier, &plan, &truth, now, &key).await,
            Act::Pay => {
                let next = self.pay(&plan, &truth.code, now, key("pay")).await?;
                Ok(next)
            }
            // The applicant's side trips: nothing follows them.
            Act::Follow | Act::Ask => {
                self.citizen(dossier, act, citizens).await?;
                Ok(None)
            }
        }
    }

    /// An officer's turn on the current step.
    async fn work(
        &self,
        dossier: &Mutex<Dossier>,
        plan: &Planned,
        truth: &Truth,
        now: DateTime<Utc>,
        key: &dyn Fn(&str) -> String,
    ) -> anyhow::Result<Next> {
        let case = self.case(&truth.code).await?;
        let case = self.apologise_if_due(dossier, plan, case, now, key).await?;
        let step = case
            .steps
            .get(case.current_step as usize)
            .cloned()
            .context("the case has no current step")?;
        let role = Role::parse(&step.role).context("the step names no role")?;
        let last = case.current_step as usize + 1 == case.steps.len();
        let (asked_supplement, asked_withdrawal, asked_obligation) = {
            let d = dossier.lock().unwrap_or_else(|p| p.into_inner());
            (d.asked_supplement, d.asked_withdrawal, d.asked_obligation)
        };
        // The applicant asks to withdraw once the desk has passed the dossier on.
        if plan.fate == Fate::Withdrawn && !asked_withdrawal && case.current_step >= 1 {
            let req = RequestWithdrawalRequest {
                dossier_code: truth.code.clone(),
                reason: "Người nộp xin rút hồ sơ".into(),
                idempotency_key: key("ask-withdrawal"),
            };
            self.call("intake.RequestWithdrawal", || {
                let (mut desk, req) = (self.people.desk_intake(plan.officer), req.clone());
                async move { desk.request_withdrawal(req).await }
            })
            .await?;
            dossier
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .asked_withdrawal = true;
            return Ok(Some((self.later(now, Duration::hours(1)), Act::Withdraw)));
        }
        let officer = self.people.officer(role, &step.department, plan.officer);
        let mut version = case.version;
        if case.assignee.is_none() {
            let req = ClaimTaskRequest {
                dossier_code: truth.code.clone(),
                action: action(version, key(&format!("claim-{}", case.version))),
            };
            version = self
                .call("workflow.ClaimTask", || {
                    let (mut client, req) = (officer.clone(), req.clone());
                    async move { client.claim_task(req).await }
                })
                .await?
                .case
                .context("no case")?
                .version;
        }
        let k = key(&format!("v{version}"));
        if plan.fate == Fate::Refused && role == Role::Leader {
            let c = self
                .call("workflow.RefuseCase", || {
                    let (mut client, req) = (
                        officer.clone(),
                        RefuseCaseRequest {
                            dossier_code: truth.code.clone(),
                            action: action(version, k.clone()),
                            reason: "Không đủ điều kiện theo quy định".into(),
                        },
                    );
                    async move { client.refuse_case(req).await }
                })
                .await?
                .case
                .context("no case")?;
            self.ended(dossier, &c, now, None);
            return Ok(None);
        }
        if plan.supplement && !asked_supplement && role == Role::Specialist {
            let c = self
                .call("workflow.RequestSupplement", || {
                    let (mut client, req) = (
                        officer.clone(),
                        RequestSupplementRequest {
                            dossier_code: truth.code.clone(),
                            action: action(version, k.clone()),
                            missing: vec!["Bản sao giấy tờ còn thiếu".into()],
                        },
                    );
                    async move { client.request_supplement(req).await }
                })
                .await?
                .case
                .context("no case")?;
            let mut d = dossier.lock().unwrap_or_else(|p| p.into_inner());
            d.asked_supplement = true;
            d.truth.supplements += 1;
            d.truth.due_at = c.due_at.map(ts);
            let back = self.working_later(now, Span::Days(2))?;
            return Ok(Some((back, Act::Supplement)));
        }
        if plan.obligation
            && !asked_obligation
            && role == Role::Specialist
            && (!plan.supplement || asked_supplement)
        {
            let next = self
                .ask_obligation(dossier, &officer, &truth.code, version, now, k)
                .await?;
            return Ok(next);
        }
        if last {
            let c = self
                .call("workflow.RecordResult", || {
                    let (mut client, req) = (
                        officer.clone(),
                        RecordResultRequest {
                            dossier_code: truth.code.clone(),
                            action: action(version, k.clone()),
                            result: format!("Kết quả hồ sơ {}", truth.code),
                            ..Default::default()
                        },
                    );
                    async move { client.record_result(req).await }
                })
                .await?
                .case
                .context("no case")?;
            let due = c.due_at.map(ts).context("no due time")?;
            let expected = match self.cal.classify(vn(due), vn(now))? {
                motcua_calendar::Outcome::Early => Outcome::Early,
                motcua_calendar::Outcome::OnTime => Outcome::OnTime,
                motcua_calendar::Outcome::Late => Outcome::Late,
            };
            self.ended(dossier, &c, now, Some(expected));
            return Ok(Some((self.later(now, Duration::hours(2)), Act::Return)));
        }
        let c = self
            .call("workflow.ForwardStep", || {
                let (mut client, req) = (
                    officer.clone(),
                    ForwardStepRequest {
                        dossier_code: truth.code.clone(),
                        action: action(version, k.clone()),
                    },
                );
                async move { client.forward_step(req).await }
            })
            .await?
            .case
            .context("no case")?;
        let due = c.due_at.map(ts).context("no due time")?;
        let remaining = c.steps.len().saturating_sub(c.current_step as usize).max(1) as i32;
        let finish = self.finish_by(plan.fate, due)?;
        let next = if remaining == 1 {
            // The last step is done at the planned moment itself, where the outcome is decided.
            finish.max(now + Duration::minutes(15))
        } else {
            // On the grid, but never past the planned end (a coarse grid would round the
            // steps of a dossier meant to end on time past its due time).
            self.later(now, ((finish - now) / remaining).max(Duration::minutes(15)))
                .min(finish.max(now + Duration::minutes(15)))
        };
        Ok(Some((next, Act::Work)))
    }

    /// When the result is meant to be recorded, given the due time.
    fn finish_by(&self, fate: Fate, due: DateTime<Utc>) -> anyhow::Result<DateTime<Utc>> {
        Ok(match fate {
            Fate::Early => self.cal.before(vn(due), Span::Days(2))?.with_timezone(&Utc),
            Fate::OnTime => {
                // The last moment of the grid before the due time, when it is a working moment
                // of the due day (so a coarse grid adds no moment of its own); else twenty
                // minutes before the due time.
                let on_grid = self.grid_floor(due - Duration::seconds(1));
                if vn(on_grid).date_naive() == vn(due).date_naive()
                    && self.cal.is_working_moment(vn(on_grid))?
                {
                    on_grid
                } else {
                    let at = vn(due - Duration::minutes(20));
                    self.cal
                        .next_working_moment(at)?
                        .with_timezone(&Utc)
                        .min(due)
                }
            }
            _ => self
                .cal
                .due(vn(due), Span::Days(2), None, &[])?
                .with_timezone(&Utc),
        })
    }

    /// The grid's step: the profile's tick, at least a minute.
    fn tick_seconds(&self) -> Duration {
        Duration::seconds(self.tick.num_seconds().max(60))
    }

    /// The moment of the grid at or before `at`.
    fn grid_floor(&self, at: DateTime<Utc>) -> DateTime<Utc> {
        let tick = self.tick_seconds().num_seconds();
        at - Duration::seconds(at.timestamp().rem_euclid(tick))
    }

    /// The first working moment on the grid (`tick`) at least `after` past `now`.
    pub(super) fn later(&self, now: DateTime<Utc>, after: Duration) -> DateTime<Utc> {
        let at = now + after;
        let on_grid = self.grid_floor(at);
        let at = if on_grid < at {
            on_grid + self.tick_seconds()
        } else {
            on_grid
        };
        self.cal
            .next_working_moment(vn(at))
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or(at)
    }

    pub(super) fn working_later(
        &self,
        now: DateTime<Utc>,
        span: Span,
    ) -> anyhow::Result<DateTime<Utc>> {
        let at = self.cal.due(vn(now), span, None, &[])?.with_timezone(&Utc);
        Ok(self.later(at, Duration::zero()))
    }

    /// Records how the case ended.
    fn ended(
        &self,
        dossier: &Mutex<Dossier>,
        c: &Case,
        now: DateTime<Utc>,
        outcome: Option<Outcome>,
    ) {
        let mut d = dossier.lock().unwrap_or_else(|p| p.into_inner());
        d.truth.done_at = Some(now);
        d.truth.outcome = outcome;
        d.truth.due_at = c.due_at.map(ts);
        d.truth.status = DossierStatus::try_from(c.status).ok();
    }
}
