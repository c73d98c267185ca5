//! The publish path: limits, the authorize hook, the retained store, fan-out, and waiting
//! for room; the broker's own messages (`$SYS`, wills).

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::Engine;
use crate::router::{RouteCache, settle};
use crate::session::{Session, SessionKey};
use crate::sync::{Arc, Mutex, Ordering, ValueArc};
use crate::types::error::{LimitError, PublishError, SessionError};
use crate::types::hooks::{DenyReason, Event};
use crate::types::message::{Deadline, Delivery, Publication, origin_of};
use crate::types::publish_options::{INTERRUPT_EVERY, Interrupt, PublishOptions};
use crate::types::topic::TopicName;
use crate::types::will::Will;

impl Engine {
    /// Checks a topic and payload against the configured limits.
    pub(crate) fn check_limits(
        &self,
        topic: &TopicName,
        payload_len: usize,
    ) -> Result<(), LimitError> {
        let c = &self.config;
        let len = topic.as_str().len();
        if len > c.max_topic_length {
            return Err(LimitError::TopicTooLong {
                len,
                max: c.max_topic_length,
            });
        }
        let levels = topic.level_count();
        if levels > c.max_topic_levels {
            return Err(LimitError::TooManyLevels {
                levels,
                max: c.max_topic_levels,
            });
        }
        if payload_len > c.max_payload_size {
            return Err(LimitError::PayloadTooLarge {
                size: payload_len,
                max: c.max_payload_size,
            });
        }
        Ok(())
    }

    /// Publishes one message from session `origin` (or from the broker itself), using and
    /// refreshing the publisher's route cache if it has one and nobody else holds it.
    pub(crate) fn publish(
        &self,
        origin: Option<(SessionKey, &str, Option<&str>)>,
        topic: TopicName,
        payload: Bytes,
        options: &PublishOptions,
        cache: Option<&Mutex<RouteCache>>,
    ) -> Result<(), PublishError> {
        self.check_limits(&topic, payload.len())?;
        if let Some((_, client_id, username)) = origin {
            self.authorize_publish(client_id, username, &topic, options)?;
        }
        let publication = Publication {
            expires_at: self.expiry_deadline(options),
            topic,
            payload,
            qos: options.qos,
            retain: options.retain,
            properties: options.properties.clone(),
            origin: origin.and_then(|(key, _, _)| origin_of(key)),
        };
        let mut effects = self.effects();
        effects.hand_back_full = options.wait_if_full.is_some();
        {
            let router = self.router.read();
            if router.is_closed() && origin.is_some() {
                return Err(SessionError::BrokerClosed.into());
            }
            if publication.retain {
                self.retain(&publication)
                    .map_err(|full| PublishError::RetainedStoreFull {
                        count: full.count,
                        bytes: full.bytes,
                    })?;
            }
            let mut cache = cache.and_then(Mutex::try_lock);
            router.route(publication, &mut effects, cache.as_deref_mut());
        }
        let blocked = effects.take_blocked();
        let mut full = effects.first_full.take();
        self.run_effects(effects);
        if let (Some(wait), false) = (options.wait_if_full, blocked.is_empty()) {
            full = full.or(self.wait_for_room(blocked, wait, options.interrupt.as_ref()));
        }
        match full {
            Some(client_id) if options.fail_if_full => Err(PublishError::QueueFull {
                client_id: client_id.to_string(),
            }),
            _ => Ok(()),
        }
    }

    /// The hooks' `authorize_publish`; a refusal is reported and returned as an error.
    fn authorize_publish(
        &self,
        client_id: &str,
        username: Option<&str>,
        topic: &TopicName,
        options: &PublishOptions,
    ) -> Result<(), PublishError> {
        let Some(hooks) = &self.hooks else {
            return Ok(());
        };
        let info = Self::client_info(client_id, username);
        if hooks.authorize_publish(&info, topic, options.qos, options.retain) {
            return Ok(());
        }
        self.emit(&Event::PublishDenied {
            client_id,
            topic: topic.as_str(),
            reason: DenyReason::Hooks,
        });
        Err(PublishError::NotAuthorized {
            topic: topic.as_str().to_owned(),
        })
    }

    /// When a message published now with `options` expires.
    fn expiry_deadline(&self, options: &PublishOptions) -> Deadline {
        options
            .properties
            .as_ref()
            .and_then(|p| p.message_expiry_interval)
            .map_or(Deadline::NONE, |interval| {
                Deadline::at(self.clock.now().saturating_add(interval))
            })
    }

    /// Offers each delivery that found its queue full again as room appears, for up to
    /// `wait`; past it, the session's overflow policy applies. No lock is held while waiting.
    /// Returns the first session whose queue was still full at the deadline.
    fn wait_for_room(
        &self,
        blocked: Vec<(Arc<Session>, Delivery)>,
        wait: Duration,
        interrupt: Option<&Interrupt>,
    ) -> Option<ValueArc<str>> {
        // Waiting is real time; the broker clock only drives MQTT's time rules.
        let deadline = Instant::now().checked_add(wait);
        let mut still_full = None;
        let mut asked = Instant::now();
        let mut interrupted = false;
        for (session, mut delivery) in blocked {
            let mut pause = Duration::from_micros(1);
            loop {
                if let Some(Interrupt(check)) = interrupt
                    && !interrupted
                    && asked.elapsed() >= INTERRUPT_EVERY
                {
                    asked = Instant::now();
                    interrupted = check();
                }
                let late = interrupted || deadline.is_some_and(|d| Instant::now() >= d);
                let mut effects = self.effects();
                effects.hand_back_full = !late;
                let weight = delivery.publication.weight();
                if late || session.has_room(weight) {
                    settle(&session, session.enqueue(delivery, !late), &mut effects);
                } else {
                    effects.rare().blocked.push((session.clone(), delivery));
                }
                if still_full.is_none() {
                    still_full = effects.first_full.take();
                }
                let retry = effects.rare.as_mut().and_then(|r| r.blocked.pop());
                self.run_effects(effects);
                match retry {
                    Some((_, back)) => delivery = back,
                    None => break,
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(1));
            }
        }
        still_full
    }

    /// Publishes a message of the broker's own (`$SYS`, a will) without hooks or limits.
    pub(crate) fn publish_internal(
        &self,
        origin: Option<SessionKey>,
        topic: TopicName,
        payload: Bytes,
        options: &PublishOptions,
    ) {
        self.broker_published.fetch_add(1, Ordering::Relaxed);
        let publication = Publication {
            topic,
            payload,
            qos: options.qos,
            retain: options.retain,
            properties: options.properties.clone(),
            origin: origin.and_then(origin_of),
            expires_at: Deadline::NONE,
        };
        let mut effects = self.effects();
        {
            let router = self.router.read();
            if publication.retain {
                // A full store keeps its older messages; the live publish still goes out.
                let _ = self.retain(&publication);
            }
            router.route(publication, &mut effects, None);
        }
        self.run_effects(effects);
    }

    /// Publishes a will now.
    pub(crate) fn publish_will(&self, origin: SessionKey, will: Will) {
        let topic = will.topic;
        let mut options = PublishOptions::new(will.qos).retain(will.retain);
        if let Some(properties) = will.properties {
            options = options.properties(properties);
        }
        self.publish_internal(Some(origin), topic, will.payload, &options);
    }
}
