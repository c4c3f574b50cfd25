export * from './auth.js';
export * from './careplans.js';
export * from './errors.js';
export * from './events.js';
export * from './fields.js';
export * from './patients.js';
export * from './queue.js';
export * from './roles.js';
