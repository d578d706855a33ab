//! The factory config an instance's plugin is built with: the public
//! config's parameters as the plugin contract passes them.

use anyhow::Result;
use ocr_plugin_sdk::PluginConfig;

use crate::config::network::Instance;

/// The factory config of oracle `me` in `instance`.
pub fn plugin_config(instance: &Instance, me: u8) -> Result<PluginConfig> {
    let public = &instance.public;
    Ok(PluginConfig {
        config_digest: public.config_digest,
        oracle_id: me,
        n: u8::try_from(public.n())?,
        f: public.f,
        onchain_config: public.onchain_config.clone(),
        offchain_config: public.reporting_plugin_config.clone(),
        estimated_round_interval: public.min_round_interval(),
        max_duration_query: public.max_duration_query,
        max_duration_observation: public.max_duration_observation,
        max_duration_should_accept_attested_report: public.max_duration_should_accept_attested_report,
        max_duration_should_transmit_accepted_report: public.max_duration_should_transmit_accepted_report,
    })
}
