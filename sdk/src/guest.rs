//! The wasm side: WIT bindings and the adapter that exports a
//! [`ReportingPlugin`] as our world. Plugin authors never use this module
//! directly; [`export_plugin!`](crate::export_plugin) does.

use core::marker::PhantomData;
use core::time::Duration;

use crate::data_sources::{DataSourceError, DataSources};
use crate::{
    AttributedObservationRef, ConfigDigest, OutcomeContext, PluginConfig, PluginError, PluginInfo, PluginLimits,
    ReportPlus, ReportWithInfo, ReportingPlugin,
};

#[allow(missing_docs, clippy::all, unsafe_code)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "reporting-plugin-world",
        pub_export_macro: true,
        export_macro_name: "__export_reporting_plugin_world",
        default_bindings_module: "ocr_plugin_sdk::__private::bindings",
        runtime_path: "ocr_plugin_sdk::__private::wit_bindgen::rt",
    });
}

use bindings::exports::ocr::plugin::reporting_plugin as wit;
use bindings::ocr::plugin::data_sources as wit_sources;
use bindings::ocr::plugin::types as wit_types;

/// The component type the export macro instantiates with the author's plugin.
pub struct Component<P>(PhantomData<P>);

/// The resource behind `reporting-plugin.plugin`.
pub struct Instance<P> {
    plugin: P,
}

/// Data sources reached through the host import.
struct HostDataSources;

impl DataSources for HostDataSources {
    fn read(&self, name: &str) -> Result<String, DataSourceError> {
        wit_sources::read(name).map_err(|e| match e {
            wit_sources::SourceError::Unknown(n) => DataSourceError::Unknown(n),
            wit_sources::SourceError::Unavailable(why) => DataSourceError::Unavailable(why),
            wit_sources::SourceError::NotPermitted => DataSourceError::NotPermitted,
        })
    }
}

fn ms(value: u64) -> Duration {
    Duration::from_millis(value)
}

fn config_from_wit(c: wit_types::PluginConfig) -> Result<PluginConfig, PluginError> {
    let digest: [u8; 32] = c
        .config_digest
        .as_slice()
        .try_into()
        .map_err(|_| PluginError::invalid_config("config digest is not 32 bytes"))?;
    Ok(PluginConfig {
        config_digest: ConfigDigest(digest),
        oracle_id: c.oracle_id,
        n: c.n,
        f: c.f,
        onchain_config: c.onchain_config,
        offchain_config: c.offchain_config,
        estimated_round_interval: ms(c.estimated_round_interval_ms),
        max_duration_query: ms(c.max_duration_query_ms),
        max_duration_observation: ms(c.max_duration_observation_ms),
        max_duration_should_accept_attested_report: ms(c.max_duration_should_accept_attested_report_ms),
        max_duration_should_transmit_accepted_report: ms(c.max_duration_should_transmit_accepted_report_ms),
    })
}

fn error_to_wit(e: PluginError) -> wit_types::PluginError {
    match e {
        PluginError::InvalidConfig(m) => wit_types::PluginError::InvalidConfig(m),
        PluginError::InvalidInput(m) => wit_types::PluginError::InvalidInput(m),
        PluginError::DataSource(m) => wit_types::PluginError::DataSource(m),
        PluginError::Other(m) => wit_types::PluginError::Other(m),
    }
}

fn info_to_wit(info: PluginInfo) -> wit_types::PluginInfo {
    let PluginLimits {
        max_query_length,
        max_observation_length,
        max_outcome_length,
        max_report_length,
        max_report_count,
    } = info.limits;
    wit_types::PluginInfo {
        name: info.name,
        limits: wit_types::PluginLimits {
            max_query_length,
            max_observation_length,
            max_outcome_length,
            max_report_length,
            max_report_count,
        },
    }
}

fn ctx_from_wit(c: wit_types::OutcomeContext) -> OutcomeContext {
    OutcomeContext { seq_nr: c.seq_nr, previous_outcome: c.previous_outcome, epoch: c.epoch, round: c.round }
}

fn ao_from_wit(a: &wit_types::AttributedObservation) -> AttributedObservationRef<'_> {
    AttributedObservationRef { observation: &a.observation, observer: a.observer }
}

/// Views into the packed observations (see `attributed-observations` in the
/// WIT), checked: a malformed packing is an input error, never a panic.
fn unpack(
    packed: &wit_types::AttributedObservations,
) -> Result<Vec<AttributedObservationRef<'_>>, wit_types::PluginError> {
    let malformed = || wit_types::PluginError::InvalidInput("malformed packed observations".into());
    if packed.observers.len() != packed.ends.len() {
        return Err(malformed());
    }
    let mut start = 0usize;
    let mut views = Vec::with_capacity(packed.observers.len());
    for (observer, end) in packed.observers.iter().zip(&packed.ends) {
        let end = usize::try_from(*end).map_err(|_| malformed())?;
        let observation = packed.data.get(start..end).ok_or_else(malformed)?;
        views.push(AttributedObservationRef { observation, observer: *observer });
        start = end;
    }
    Ok(views)
}

/// Packs reports for the boundary (see `packed-reports` in the WIT).
fn pack_reports(reports: Vec<ReportPlus>) -> Result<wit_types::PackedReports, wit_types::PluginError> {
    let mut p = wit_types::PackedReports {
        reports: Vec::new(),
        report_ends: Vec::with_capacity(reports.len()),
        infos: Vec::new(),
        info_ends: Vec::with_capacity(reports.len()),
        has_schedule: Vec::with_capacity(reports.len()),
        schedule_ends: Vec::with_capacity(reports.len()),
        transmitters: Vec::new(),
        transmission_delays_ms: Vec::new(),
    };
    let end = |len: usize| u32::try_from(len).unwrap_or(u32::MAX);
    for (i, r) in reports.into_iter().enumerate() {
        if let Some(s) = &r.transmission_schedule_override
            && s.transmitters.len() != s.transmission_delays.len()
        {
            return Err(wit_types::PluginError::Other(format!(
                "report {i}: transmission schedule has {} transmitters but {} delays",
                s.transmitters.len(),
                s.transmission_delays.len()
            )));
        }
        p.reports.extend_from_slice(&r.report);
        p.report_ends.push(end(p.reports.len()));
        p.infos.extend_from_slice(&r.info);
        p.info_ends.push(end(p.infos.len()));
        p.has_schedule.push(r.transmission_schedule_override.is_some());
        if let Some(s) = r.transmission_schedule_override {
            for (t, d) in s.transmitters.iter().zip(&s.transmission_delays) {
                p.transmitters.push(*t);
                p.transmission_delays_ms.push(u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
            }
        }
        p.schedule_ends.push(end(p.transmitters.len()));
    }
    Ok(p)
}

fn rwi_from_wit(r: wit_types::ReportWithInfo) -> ReportWithInfo {
    ReportWithInfo { report: r.report, info: r.info }
}

impl<P: ReportingPlugin> wit::Guest for Component<P> {
    type Plugin = Instance<P>;

    fn create(config: wit_types::PluginConfig) -> Result<wit::CreatedPlugin, wit_types::PluginError> {
        let config = config_from_wit(config).map_err(error_to_wit)?;
        let (plugin, info) = P::new(&config).map_err(error_to_wit)?;
        Ok(wit::CreatedPlugin { instance: wit::Plugin::new(Instance { plugin }), info: info_to_wit(info) })
    }
}

impl<P: ReportingPlugin> wit::GuestPlugin for Instance<P> {
    fn query(&self, ctx: wit_types::OutcomeContext) -> Result<Vec<u8>, wit_types::PluginError> {
        self.plugin.query(&ctx_from_wit(ctx), &HostDataSources).map_err(error_to_wit)
    }

    fn observation(&self, ctx: wit_types::OutcomeContext, query: Vec<u8>) -> Result<Vec<u8>, wit_types::PluginError> {
        self.plugin.observation(&ctx_from_wit(ctx), &query, &HostDataSources).map_err(error_to_wit)
    }

    fn validate_observation(
        &self,
        ctx: wit_types::OutcomeContext,
        query: Vec<u8>,
        observation: wit_types::AttributedObservation,
    ) -> Result<(), wit_types::PluginError> {
        self.plugin.validate_observation(&ctx_from_wit(ctx), &query, ao_from_wit(&observation)).map_err(error_to_wit)
    }

    fn observation_quorum(
        &self,
        ctx: wit_types::OutcomeContext,
        query: Vec<u8>,
        observations: wit_types::AttributedObservations,
    ) -> Result<bool, wit_types::PluginError> {
        let aos = unpack(&observations)?;
        self.plugin.observation_quorum(&ctx_from_wit(ctx), &query, &aos).map_err(error_to_wit)
    }

    fn outcome(
        &self,
        ctx: wit_types::OutcomeContext,
        query: Vec<u8>,
        observations: wit_types::AttributedObservations,
    ) -> Result<Vec<u8>, wit_types::PluginError> {
        let aos = unpack(&observations)?;
        self.plugin.outcome(&ctx_from_wit(ctx), &query, &aos).map_err(error_to_wit)
    }

    fn reports(&self, seq_nr: u64, outcome: Vec<u8>) -> Result<wit_types::PackedReports, wit_types::PluginError> {
        self.plugin.reports(seq_nr, &outcome).map_err(error_to_wit).and_then(pack_reports)
    }

    fn should_accept_attested_report(
        &self,
        seq_nr: u64,
        report: wit_types::ReportWithInfo,
    ) -> Result<bool, wit_types::PluginError> {
        self.plugin.should_accept_attested_report(seq_nr, &rwi_from_wit(report)).map_err(error_to_wit)
    }

    fn should_transmit_accepted_report(
        &self,
        seq_nr: u64,
        report: wit_types::ReportWithInfo,
    ) -> Result<bool, wit_types::PluginError> {
        self.plugin.should_transmit_accepted_report(seq_nr, &rwi_from_wit(report)).map_err(error_to_wit)
    }

    fn close(&self) -> Result<(), wit_types::PluginError> {
        self.plugin.close().map_err(error_to_wit)
    }
}
