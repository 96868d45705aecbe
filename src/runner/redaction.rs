//! The redaction hook of a run: an outcome is redacted when it is built, before any report sees it.
//!
//! What the processes under test print and answer (their output, the failures and diagnoses that
//! quote it, the steps' answers, the transcript) may hold their token, the identity header or a
//! client secret; [`Redactor`] replaces them in every text of the outcome.

use super::{Failure, Outcome};
use crate::diagnosis::Finding;
use crate::transcript::redact::Redactor;

impl Outcome {
    /// The outcome with every text the processes under test could have put in it redacted. The
    /// scenario's own name and description are the user's text, not the run's, and stay.
    pub(crate) fn redacted(mut self) -> Self {
        let redactor = Redactor::new(&self.secrets);
        self.backend_output.iter_mut().for_each(|line| redactor.string(line));
        for failure in &mut self.failures {
            match failure {
                Failure::Step { problem, .. } => redactor.string(problem),
                Failure::Run(text) => redactor.string(text),
                Failure::Diagnoses { .. } | Failure::Calls { .. } => {}
            }
        }
        self.findings.iter_mut().for_each(|f| finding(&redactor, f));
        for step in &mut self.steps {
            step.body.iter_mut().for_each(|body| redactor.value(body));
            step.failures.iter_mut().for_each(|f| redactor.string(f));
        }
        self.exchanges.iter_mut().for_each(|e| redactor.exchange(e));
        // A program's command line may carry a token or a secret of the run.
        for player in &mut self.players {
            redactor.string(&mut player.played_by);
            player.in_place_of.iter_mut().for_each(|p| redactor.string(p));
        }
        self
    }
}

/// A diagnosis's texts: they quote answers and output.
pub(crate) fn finding(redactor: &Redactor, finding: &mut Finding) {
    redactor.string(&mut finding.explanation);
    redactor.string(&mut finding.fix);
}
