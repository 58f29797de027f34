// The last bodies the admin API sent, shared by the views that render them.

export const state = {
  status: null,
  models: [],
  modelsById: new Map(),
  modelsReceivedAt: 0,
  autoFastest: null,
  pinned: null,
  pinningMode: null,
  estimate: null, // what `expectedMs` estimates (`outputTokens`, `assumedTokensPerSecond`)
  providers: [], // from /api/providers, plus `keyInfo` (its key status)
  endpoints: new Map(), // provider key -> endpoint id
  settings: null,
};

export function providerName(key) {
  const p = state.providers.find((x) => x.key === key);
  return p?.name || key || '';
}
