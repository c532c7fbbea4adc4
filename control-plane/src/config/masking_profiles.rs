//! The `[masking]` section, validated: the profile table the gateway masks with (which
//! profile applies to a session, by server and the caller's groups, from config until
//! policies choose it) and the laptops' local servers are built from. Which parts of which
//! messages carry data (only data: never schemas or envelopes) is `gatehouse_mask::message`.

use super::error::ConfigError;
use super::masking::MaskingConfig;
use gatehouse_mask::{Masker, Profile};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// The profile name that masks nothing.
pub const OFF: &str = "off";

/// The profile name every configuration has unless it redefines it.
pub const DEFAULT: &str = "default";

/// Every profile by name: the configured ones plus the built-in `default` (every
/// detector) and `off` (none), unless the configuration redefines them. The one
/// definition both the gateway's maskers and the laptops' local servers are built from.
pub fn profiles(config: &MaskingConfig) -> BTreeMap<String, Profile> {
    let mut profiles = config.profiles.clone();
    profiles.entry(DEFAULT.into()).or_default();
    profiles.entry(OFF.into()).or_insert_with(|| Profile {
        detectors: Vec::new(),
        field_names: Vec::new(),
        ..Profile::default()
    });
    profiles
}

/// Maskers for every configured profile and the rules choosing between them.
pub struct Masking {
    maskers: HashMap<String, Arc<Masker>>,
    profiles: BTreeMap<String, Profile>,
    config: MaskingConfig,
}

impl Masking {
    /// Builds every profile; a bad profile is a configuration error naming it.
    pub fn new(config: &MaskingConfig, hmac_key: Option<&[u8]>) -> Result<Masking, ConfigError> {
        let profiles = profiles(config);
        let mut maskers = HashMap::new();
        for (name, profile) in &profiles {
            let m = Masker::new(profile, hmac_key)
                .map_err(|e| ConfigError::Invalid(format!("masking profile `{name}`: {e}")))?;
            maskers.insert(name.clone(), Arc::new(m));
        }
        let known = |n: &str| maskers.contains_key(n);
        if !known(&config.default_profile) {
            return Err(ConfigError::Invalid(format!(
                "masking.default_profile `{}` is not a profile; define [masking.profiles.{}]",
                config.default_profile, config.default_profile
            )));
        }
        for o in &config.overrides {
            if !known(&o.profile) {
                return Err(ConfigError::Invalid(format!(
                    "masking override for group `{}` names unknown profile `{}`",
                    o.group, o.profile
                )));
            }
        }
        Ok(Masking {
            maskers,
            profiles,
            config: config.clone(),
        })
    }

    /// The profile name for a caller on a server: the first matching group override,
    /// else the server's `masking_profile`, else the default profile.
    pub fn profile_for(
        &self,
        server: &str,
        server_profile: Option<&str>,
        groups: &[String],
    ) -> String {
        self.config
            .overrides
            .iter()
            .find(|o| groups.contains(&o.group) && o.server.as_deref().is_none_or(|s| s == server))
            .map(|o| o.profile.clone())
            .or_else(|| server_profile.map(String::from))
            .unwrap_or_else(|| self.config.default_profile.clone())
    }

    /// The masker of a profile (the default one for unknown names, which config
    /// validation has already ruled out).
    pub fn masker(&self, profile: &str) -> Arc<Masker> {
        self.maskers
            .get(profile)
            .or_else(|| self.maskers.get(&self.config.default_profile))
            .cloned()
            .unwrap_or_else(|| {
                Arc::new(Masker::new(&Profile::default(), None).unwrap_or_else(|_| unreachable!()))
            })
    }

    /// The definition [`Masking::masker`] built for `profile` (the default profile's for
    /// unknown names), so a laptop builds the same masker as the gateway.
    pub fn definition(&self, profile: &str) -> Profile {
        self.profiles
            .get(profile)
            .or_else(|| self.profiles.get(&self.config.default_profile))
            .cloned()
            .unwrap_or_default()
    }

    /// True when `profile` exists.
    pub fn has_profile(&self, profile: &str) -> bool {
        self.maskers.contains_key(profile)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_mask::message::{mask_for_record, mask_from_server};
    use gatehouse_proxy_core::jsonrpc::Message;
    use serde_json::json;

    fn masking() -> Masking {
        let cfg: MaskingConfig = toml::from_str(
            "[profiles.cards_only]\ndetectors = [\"credit_card\"]\nfield_names = []\n[[overrides]]\ngroup = \"auditors\"\nprofile = \"off\"\n",
        )
        .unwrap();
        Masking::new(&cfg, None).unwrap()
    }

    #[test]
    fn profiles_by_group_then_server_then_default() {
        let m = masking();
        assert_eq!(
            m.profile_for("db", Some("cards_only"), &["eng".into()]),
            "cards_only"
        );
        assert_eq!(
            m.profile_for("db", Some("cards_only"), &["auditors".into()]),
            "off"
        );
        assert_eq!(m.profile_for("db", None, &[]), "default");
    }

    #[test]
    fn definitions_build_the_maskers_the_gateway_uses() {
        let m = masking();
        let sample = json!({"text": "card 4111 1111 1111 1111, mail ada@example.com", "password": "hunter2"});
        for name in ["default", "off", "cards_only", "no-such-profile"] {
            let mut by_gateway = sample.clone();
            m.masker(name).mask_json(&mut by_gateway);
            let mut by_definition = sample.clone();
            Masker::new(&m.definition(name), None)
                .unwrap()
                .mask_json(&mut by_definition);
            assert_eq!(by_gateway, by_definition, "profile {name}");
        }
        assert!(m.definition("off").detectors.is_empty());
        let mut v = sample.clone();
        Masker::new(&m.definition("off"), None)
            .unwrap()
            .mask_json(&mut v);
        assert_eq!(v, sample, "`off` masks nothing");
        let mut v = sample.clone();
        Masker::new(&m.definition("cards_only"), None)
            .unwrap()
            .mask_json(&mut v);
        assert!(!v.to_string().contains("4111") && v.to_string().contains("ada@example.com"));
        // An unknown name is the configured default profile's, not the built-in one.
        let cfg: MaskingConfig = toml::from_str(
            "default_profile = \"cards_only\"\n[profiles.cards_only]\ndetectors = [\"credit_card\"]\nfield_names = []\n",
        )
        .unwrap();
        let cards = Masking::new(&cfg, None).unwrap();
        assert_eq!(
            cards.definition("no-such-profile"),
            cards.definition("cards_only")
        );
        assert_ne!(cards.definition("default"), cards.definition("cards_only"));
    }

    #[test]
    fn results_are_masked_schemas_are_not() {
        let m = masking();
        let masker = m.masker("default");
        let mut call = Message::from_value(json!({"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"card 4111 1111 1111 1111"}],"structuredContent":{"card_number":"4111111111111111"}}})).unwrap();
        let counts = mask_from_server(&masker, &mut call, Some("tools/call"));
        assert_eq!(counts.total(), 2);
        assert!(!call.to_json().contains("4111"));
        let list = json!({"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"login","inputSchema":{"properties":{"password":{"type":"string"}}}}]}});
        let mut msg = Message::from_value(list.clone()).unwrap();
        assert!(mask_from_server(&masker, &mut msg, Some("tools/list")).is_empty());
        assert_eq!(msg.to_value(), list, "tools/list passes unchanged");
        let mut err = Message::from_value(json!({"jsonrpc":"2.0","id":3,"error":{"code":-1,"message":"no row for ada@example.com"}})).unwrap();
        assert_eq!(
            mask_from_server(&masker, &mut err, Some("tools/call")).get("email"),
            1
        );
    }

    #[test]
    fn arguments_are_masked_only_in_the_record() {
        let m = masking();
        let masker = m.masker("default");
        let call = Message::from_value(json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"pay","arguments":{"card":"4111 1111 1111 1111"}}})).unwrap();
        let (recorded, counts) = mask_for_record(&masker, &call);
        assert_eq!(counts.get("credit_card"), 1);
        assert!(!recorded.unwrap().contains("4111"));
        assert!(
            call.to_json().contains("4111 1111 1111 1111"),
            "the upstream still gets it as sent"
        );
    }
}
