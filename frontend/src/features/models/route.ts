/** Where the Models page lives; the "no model configured" notices link here. */
export const MODELS_PAGE = '/settings/models';
