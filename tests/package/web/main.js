// The package imported by its name, as through a bundler (Vite).
import * as threadmem from 'threadmem';
import { report } from './exercise.js';

report(threadmem);
