//! Concurrency: how many invocations may run at once, per account and region (the account
//! limit) and per function (reserved concurrency). A function with a reservation draws only
//! on it; every other function shares what the reservations leave (the unreserved pool).
//! Counts live in this node's memory; reservations are read from the store once per account
//! and region and kept in step by the operations that change them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::LambdaError;
use crate::state;

/// AWS keeps at least this much of the account limit unreserved.
pub const MIN_UNRESERVED: u32 = 100;

pub const RESERVED_EXCEEDED: &str = "ReservedFunctionConcurrentInvocationLimitExceeded";
pub const ACCOUNT_EXCEEDED: &str = "ConcurrentInvocationLimitExceeded";

#[derive(Default)]
struct Scope {
    /// Reserved concurrency by function name; `None` until read from the store.
    reservations: Option<HashMap<String, u32>>,
    /// Running invocations of functions without a reservation.
    unreserved_running: u32,
    /// Running invocations by function name.
    running: HashMap<String, u32>,
}

/// The counters of every account and region.
pub struct Concurrency {
    limit: u32,
    scopes: Mutex<HashMap<String, Scope>>,
}

/// One running invocation; dropping it frees its slot.
pub struct Permit {
    owner: Arc<Concurrency>,
    scope: String,
    function: String,
    reserved: bool,
    /// Running invocations of the function, this one included.
    pub running: u32,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut scopes = self.owner.scopes.lock().unwrap();
        if let Some(s) = scopes.get_mut(&self.scope) {
            if let Some(n) = s.running.get_mut(&self.function) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    s.running.remove(&self.function);
                }
            }
            if !self.reserved {
                s.unreserved_running = s.unreserved_running.saturating_sub(1);
            }
        }
    }
}

fn scope_key(account: &str, region: &str) -> String {
    format!("{account}/{region}")
}

impl Concurrency {
    pub fn new(limit: u32) -> Arc<Self> {
        Arc::new(Self {
            limit,
            scopes: Mutex::new(HashMap::new()),
        })
    }

    /// Drops the reservations read from the store (it was wiped); running counts stay.
    pub fn forget(&self) {
        for s in self.scopes.lock().unwrap().values_mut() {
            s.reservations = None;
        }
    }

    /// The account limit (GetAccountSettings' `ConcurrentExecutions`).
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// The least the account must keep unreserved.
    pub fn min_unreserved(&self) -> u32 {
        MIN_UNRESERVED.min(self.limit)
    }

    /// Reads an account's reservations from the store the first time they are needed.
    async fn load(
        &self,
        store: &stratus_store::Store,
        account: &str,
        region: &str,
    ) -> Result<(), LambdaError> {
        let key = scope_key(account, region);
        if self
            .scopes
            .lock()
            .unwrap()
            .get(&key)
            .is_some_and(|s| s.reservations.is_some())
        {
            return Ok(());
        }
        let functions = state::list(store, account, region).await?;
        let found: HashMap<String, u32> = functions
            .into_iter()
            .filter_map(|f| f.reserved.map(|r| (f.latest.name, r)))
            .collect();
        let mut scopes = self.scopes.lock().unwrap();
        let s = scopes.entry(key).or_default();
        if s.reservations.is_none() {
            s.reservations = Some(found);
        }
        Ok(())
    }

    /// The sum of an account's reservations, leaving out one function.
    pub async fn reserved_except(
        &self,
        store: &stratus_store::Store,
        account: &str,
        region: &str,
        except: &str,
    ) -> Result<u32, LambdaError> {
        self.load(store, account, region).await?;
        let scopes = self.scopes.lock().unwrap();
        Ok(scopes
            .get(&scope_key(account, region))
            .and_then(|s| s.reservations.as_ref())
            .map_or(0, |r| {
                r.iter()
                    .filter(|(n, _)| n.as_str() != except)
                    .map(|(_, v)| *v)
                    .sum()
            }))
    }

    /// Records a function's new reservation (or its removal, with the function's deletion).
    pub async fn set_reserved(
        &self,
        store: &stratus_store::Store,
        account: &str,
        region: &str,
        function: &str,
        reserved: Option<u32>,
    ) -> Result<(), LambdaError> {
        self.load(store, account, region).await?;
        let mut scopes = self.scopes.lock().unwrap();
        let s = scopes.entry(scope_key(account, region)).or_default();
        let r = s.reservations.get_or_insert_with(HashMap::new);
        match reserved {
            Some(n) => r.insert(function.to_string(), n),
            None => r.remove(function),
        };
        Ok(())
    }

    /// Takes a slot for one invocation, or says which limit is reached.
    pub async fn acquire(
        self: &Arc<Self>,
        store: &stratus_store::Store,
        account: &str,
        region: &str,
        function: &str,
        reserved: Option<u32>,
    ) -> Result<Permit, LambdaError> {
        self.load(store, account, region).await?;
        let key = scope_key(account, region);
        let mut scopes = self.scopes.lock().unwrap();
        let s = scopes.entry(key.clone()).or_default();
        let running = s.running.get(function).copied().unwrap_or(0);
        match reserved {
            Some(r) if running >= r => return Err(LambdaError::TooManyRequests(RESERVED_EXCEEDED)),
            Some(_) => {}
            None => {
                let reserved_total: u32 = s.reservations.as_ref().map_or(0, |r| r.values().sum());
                if s.unreserved_running >= self.limit.saturating_sub(reserved_total) {
                    return Err(LambdaError::TooManyRequests(ACCOUNT_EXCEEDED));
                }
                s.unreserved_running += 1;
            }
        }
        s.running.insert(function.to_string(), running + 1);
        Ok(Permit {
            owner: self.clone(),
            scope: key,
            function: function.to_string(),
            reserved: reserved.is_some(),
            running: running + 1,
        })
    }

    /// The unreserved pool of an account: `limit - reservations`.
    pub async fn unreserved(
        &self,
        store: &stratus_store::Store,
        account: &str,
        region: &str,
    ) -> Result<u32, LambdaError> {
        let reserved = self.reserved_except(store, account, region, "").await?;
        Ok(self.limit.saturating_sub(reserved))
    }
}
