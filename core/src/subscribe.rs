//! Subscribe and unsubscribe, including retained messages sent at subscribe.

use crate::broker::BrokerShared;
use crate::effects::Effects;
use crate::error::{LimitError, SessionError, SubscribeError};
use crate::hooks::{DenyReason, Event};
use crate::message::Delivery;
use crate::qos::{QoS, RetainHandling, SubOptions};
use crate::router::settle;
use crate::session::{Session, state_check};
use crate::sync::Arc;
use crate::topic::TopicFilter;

impl BrokerShared {
    fn check_filter(&self, filter: &TopicFilter) -> Result<(), LimitError> {
        let c = &self.config;
        let len = filter.as_str().len();
        if len > c.max_topic_length {
            return Err(LimitError::TopicTooLong {
                len,
                max: c.max_topic_length,
            });
        }
        let levels = filter.level_count();
        if levels > c.max_topic_levels {
            return Err(LimitError::TooManyLevels {
                levels,
                max: c.max_topic_levels,
            });
        }
        Ok(())
    }

    /// Validates and authorizes one filter, outside any lock.
    fn prepare(
        &self,
        session: &Session,
        username: Option<&str>,
        filter: &str,
        opts: SubOptions,
    ) -> Result<TopicFilter, SubscribeError> {
        let filter = TopicFilter::new(filter)?;
        self.check_filter(&filter)?;
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
            let mut state = self.state.write();
            if state.closed {
                return Err(SessionError::BrokerClosed);
            }
            for item in prepared {
                let (filter, opts) = match item {
                    Ok(ok) => ok,
                    Err(e) => {
                        results.push(Err(e));
                        continue;
                    }
                };
                let is_new = {
                    let mut s = session.inner.lock();
                    state_check(&s, generation)?;
                    let limit = self.config.max_subscriptions_per_client;
                    if !s.subscriptions.contains_key(&filter) && s.subscriptions.len() >= limit {
                        results.push(Err(SubscribeError::TooManySubscriptions { max: limit }));
                        continue;
                    }
                    // A repeated filter replaces the subscription [MQTT-3.8.4-3].
                    s.subscriptions.insert(filter.clone(), opts).is_none()
                };
                state.index.insert(&filter, session.key, opts);
                state.version += 1;
                results.push(Ok(opts.qos));
                let send_retained = match opts.retain_handling {
                    RetainHandling::SendAtSubscribe => true,
                    RetainHandling::SendAtSubscribeIfNew => is_new,
                    _ => false,
                };
                // No retained messages on a shared subscription (MQTT 5.0 §4.8.2).
                if send_retained && !filter.is_shared() {
                    self.send_retained(session, &filter, opts, &mut effects);
                }
            }
        }
        self.run_effects(effects);
        Ok(results)
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
        let matching = self.retained.lock().matching(filter, self.clock.now());
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
        let mut state = self.state.write();
        if state.closed {
            return Err(SessionError::BrokerClosed);
        }
        let mut s = session.inner.lock();
        state_check(&s, generation)?;
        Ok(filters
            .iter()
            .map(|f| {
                let filter = TopicFilter::new(f)?;
                let existed = s.subscriptions.remove(&filter).is_some();
                if existed {
                    state.index.remove(&filter, session.key);
                    state.version += 1;
                }
                Ok(existed)
            })
            .collect())
    }
}
