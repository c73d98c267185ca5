//! Subscribe and unsubscribe, including retained messages sent at subscribe.

use super::Engine;
use crate::router::{Effects, Router, settle};
use crate::session::{Session, SubscribeRefused};
use crate::sync::Arc;
use crate::types::error::{SessionError, SubscribeError};
use crate::types::hooks::{DenyReason, Event};
use crate::types::message::Delivery;
use crate::types::qos::{QoS, RetainHandling, SubOptions};
use crate::types::topic::TopicFilter;

impl Engine {
    /// Validates and authorizes one filter, outside any lock.
    fn prepare(
        &self,
        session: &Session,
        username: Option<&str>,
        filter: &str,
        opts: SubOptions,
    ) -> Result<TopicFilter, SubscribeError> {
        let filter = TopicFilter::new(filter)?;
        self.check_shape(filter.as_str().len(), filter.level_count())?;
        if let Some(hooks) = &self.hooks {
            let info = Self::client_info(&session.client_id, username);
            if !hooks.authorize_subscribe(&info, &filter, opts.qos) {
                self.emit(&Event::SubscribeDenied {
                    client_id: &session.client_id,
                    filter: filter.as_str(),
                    reason: DenyReason::Hooks,
                });
                return Err(SubscribeError::NotAuthorized {
                    filter: filter.as_str().to_owned(),
                });
            }
        }
        Ok(filter)
    }

    /// Subscribes `session` to each filter; one result per filter, in order.
    pub(crate) fn subscribe(
        &self,
        session: &Arc<Session>,
        generation: u64,
        username: Option<&str>,
        filters: &[(&str, SubOptions)],
    ) -> Result<Vec<Result<QoS, SubscribeError>>, SessionError> {
        let prepared: Vec<_> = filters
            .iter()
            .map(|&(f, opts)| self.prepare(session, username, f, opts).map(|f| (f, opts)))
            .collect();
        let mut effects = self.effects();
        let mut results = Vec::with_capacity(prepared.len());
        {
            let mut router = self.router.write();
            if router.is_closed() {
                return Err(SessionError::BrokerClosed);
            }
            for item in prepared {
                let result = match item {
                    Ok((filter, opts)) => {
                        let sub = Subscription {
                            session,
                            generation,
                            filter: &filter,
                            opts,
                        };
                        self.subscribe_one(&mut router, sub, &mut effects)?
                    }
                    Err(e) => Err(e),
                };
                results.push(result);
            }
        }
        self.run_effects(effects);
        Ok(results)
    }

    /// Records one subscription under the router's write lock and queues the retained
    /// messages it asks for. The outer error ends the whole SUBSCRIBE (an unusable handle).
    fn subscribe_one(
        &self,
        router: &mut Router,
        sub: Subscription<'_>,
        effects: &mut Effects,
    ) -> Result<Result<QoS, SubscribeError>, SessionError> {
        let max = self.config.max_subscriptions_per_client;
        let is_new = match router.subscribe(sub.session, sub.generation, sub.filter, sub.opts, max)
        {
            Ok(is_new) => is_new,
            Err(SubscribeRefused::Session(e)) => return Err(e),
            Err(SubscribeRefused::TooMany { max }) => {
                return Ok(Err(SubscribeError::TooManySubscriptions { max }));
            }
        };
        let send_retained = match sub.opts.retain_handling {
            RetainHandling::SendAtSubscribe => true,
            RetainHandling::SendAtSubscribeIfNew => is_new,
            _ => false,
        };
        // No retained messages on a shared subscription (MQTT 5.0 §4.8.2).
        if send_retained && !sub.filter.is_shared() {
            self.send_retained(sub.session, sub.filter, sub.opts, effects);
        }
        Ok(Ok(sub.opts.qos))
    }

    /// Queues the retained messages matching a new subscription, with RETAIN set
    /// [MQTT-3.3.1-8], at min(retained QoS, granted QoS).
    fn send_retained(
        &self,
        session: &Arc<Session>,
        filter: &TopicFilter,
        opts: SubOptions,
        effects: &mut Effects,
    ) {
        let matching = self.retained_matching(filter);
        for publication in matching {
            let qos = publication.qos.min(opts.qos);
            let ids = opts.subscription_id.into_iter().collect();
            let delivery = Delivery::new(publication, qos, true, ids);
            settle(session, session.enqueue(delivery, false), effects);
        }
    }

    /// Unsubscribes `session` from each filter; per filter, whether it was subscribed.
    pub(crate) fn unsubscribe(
        &self,
        session: &Arc<Session>,
        generation: u64,
        filters: &[&str],
    ) -> Result<Vec<Result<bool, SubscribeError>>, SessionError> {
        let mut router = self.router.write();
        if router.is_closed() {
            return Err(SessionError::BrokerClosed);
        }
        session.check(generation)?;
        let mut results = Vec::with_capacity(filters.len());
        for filter in filters {
            results.push(match TopicFilter::new(filter) {
                Ok(filter) => Ok(router.unsubscribe(session, generation, &filter)?),
                Err(e) => Err(e.into()),
            });
        }
        Ok(results)
    }
}

/// One subscription being made.
#[derive(Clone, Copy)]
struct Subscription<'a> {
    session: &'a Arc<Session>,
    generation: u64,
    filter: &'a TopicFilter,
    opts: SubOptions,
}
