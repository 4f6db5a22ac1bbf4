/** Stylesheets imported for their effect: esbuild bundles them into app.css (scripts/build-console.ts). */
declare module '*.css';
