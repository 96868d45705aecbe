//! Who plays each part of the team's system in a run: their own image or program, or a reference
//! part of the harness. A reference part that stands in for a part the world names (the app's
//! image, the pool's image) is a substitute, and every report says so: what ran was checked, the
//! replaced part was not.

use std::fmt;

use super::World;
use super::parts::{ImageSpec, ProcessSpec, SessionContainer};

/// A part of the system a team deploys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// The coding-engine backend (the container app).
    Backend,
    /// The session container of a custom-container pool.
    SessionContainer,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Backend => "backend",
            Self::SessionContainer => "session container",
        })
    }
}

/// Who plays one part.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Player {
    /// The part.
    pub role: Role,
    /// `your image …`, `your program …`, `the reference backend`.
    pub played_by: String,
    /// Whether it is the team's own (an image or program they named).
    pub own: bool,
    /// The team's part a reference part stands in for, when the world names it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_place_of: Option<String>,
}

impl Player {
    /// A reference part standing in for a named part of the team's.
    pub fn is_substitute(&self) -> bool {
        !self.own && self.in_place_of.is_some()
    }
}

impl fmt::Display for Player {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.role, self.played_by)?;
        match &self.in_place_of {
            Some(theirs) => write!(f, ", in place of {theirs}"),
            None => Ok(()),
        }
    }
}

/// How the backend is played: the team's image or program, or the reference backend.
#[derive(Debug, Clone, Copy)]
pub(crate) enum BackendPlayer<'a> {
    Image(&'a ImageSpec),
    Process(&'a ProcessSpec),
    Reference,
}

impl World {
    /// Who plays the backend and (for a custom-container pool with a target port) the session
    /// container.
    pub(crate) fn players(&self, backend: BackendPlayer<'_>) -> Vec<Player> {
        let app_image = self.app.image.clone();
        let backend = match backend {
            BackendPlayer::Image(image) => own(Role::Backend, format!("your image {}", image.name)),
            BackendPlayer::Process(process) => {
                own(Role::Backend, format!("your program `{}`", process.command.join(" ")))
            }
            BackendPlayer::Reference => Player {
                role: Role::Backend,
                played_by: "the reference backend".into(),
                own: false,
                in_place_of: app_image,
            },
        };
        let mut players = vec![backend];
        if self.pool.is_custom() && self.pool.target_port.is_some() {
            players.push(match &self.pool.container {
                Some(SessionContainer::Image(image)) => {
                    own(Role::SessionContainer, format!("your image {}", image.name))
                }
                Some(SessionContainer::Process(process)) => own(
                    Role::SessionContainer,
                    format!("your program `{}`", process.command.join(" ")),
                ),
                None => Player {
                    role: Role::SessionContainer,
                    played_by: "the reference adapter".into(),
                    own: false,
                    in_place_of: self.pool.image.clone(),
                },
            });
        }
        players
    }
}

fn own(role: Role, played_by: String) -> Player {
    Player { role, played_by, own: true, in_place_of: None }
}
